// Package partition places accounts on partitions: the partition map and its
// placement rules (by default xxhash64 of the account id modulo the number
// of partitions). The rule is persisted with the data and must never change
// silently, or accounts would move without their history.
package partition
