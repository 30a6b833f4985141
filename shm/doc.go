// Package shm implements shared-memory rings between processes: mmap'd
// memfd regions, futex wake-ups, and the hand-off of a ring's file
// descriptor over a unix socket, as the gateway and the data service use.
package shm
