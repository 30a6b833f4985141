package hashchain

import "sync"

// Chaining a big batch on two cores. Events that share no account do not
// depend on each other, so Apply sorts a batch's events into waves: an
// event's wave is one more than the last wave that touched either of its
// accounts. The events of one wave touch distinct chains and are hashed in
// parallel; waves run in order. The Merkle tree's levels are split the same
// way. The result is byte-identical to hashing in event order (the tests
// compare Apply with ApplyRecords, which stays serial).

// parallelMin is the smallest batch worth splitting: below it, handing work
// to another goroutine costs more than it saves.
const parallelMin = 512

// workers is how many goroutines hash one batch. Two: the machine this
// was measured on has two cores, and the ledger's apply runs on one of them
// at the same time.
const workers = 2

// waves orders the events of in by wave and returns the order and where
// each wave starts in it (waveStart[w] .. waveStart[w+1]).
func (c *Chains) waves(n int) (order []int32, waveStart []int32) {
	if len(c.wave) < len(c.heads) {
		c.wave = append(c.wave, make([]int32, len(c.heads)-len(c.wave))...)
	}
	c.evWave = resize(c.evWave, n)
	last := int32(0)
	for i := 0; i < n; i++ {
		d, cr := c.parties[2*i], c.parties[2*i+1]
		w := max(c.wave[d], c.wave[cr]) + 1
		c.wave[d], c.wave[cr] = w, w
		c.evWave[i] = w
		last = max(last, w)
	}
	for i := 0; i < n; i++ { // leave c.wave all zero for the next batch
		c.wave[c.parties[2*i]], c.wave[c.parties[2*i+1]] = 0, 0
	}
	c.waveStart = resize(c.waveStart, int(last)+2)
	for _, w := range c.evWave {
		c.waveStart[w+1]++
	}
	for w := 1; w < len(c.waveStart); w++ {
		c.waveStart[w] += c.waveStart[w-1]
	}
	c.order = resize(c.order, n)
	next := c.waveStart[:len(c.waveStart)-1]
	fill := append(c.fill[:0], next...)
	c.fill = fill
	for i, w := range c.evWave {
		c.order[fill[w]] = int32(i)
		fill[w]++
	}
	return c.order, c.waveStart[1:] // waves are numbered from 1
}

// eventsParallel chains in.Events wave by wave on two goroutines.
func (a *applier) eventsParallel() {
	order, start := a.c.waves(len(a.in.Events))
	var wg sync.WaitGroup
	from := int32(0)
	for _, end := range start {
		wave := order[from:end]
		from = end
		if len(wave) < parallelMin/4 {
			for _, i := range wave {
				a.event(int(i))
			}
			continue
		}
		half := len(wave) / 2
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, i := range wave[half:] {
				a.event(int(i))
			}
		}()
		for _, i := range wave[:half] {
			a.event(int(i))
		}
		wg.Wait()
	}
}

// parallelFor runs fn over [0, n) split between workers goroutines.
func parallelFor(n int, fn func(lo, hi int)) {
	if n < parallelMin {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	step := (n + workers - 1) / workers
	for lo := step; lo < n; lo += step {
		wg.Add(1)
		go func(lo int) {
			defer wg.Done()
			fn(lo, min(lo+step, n))
		}(lo)
	}
	fn(0, min(step, n))
	wg.Wait()
}

// reduceRootParallel is reduceRoot with each big level split between
// workers; out is scratch of at least len(level)/2+1 hashes.
func reduceRootParallel(alg Alg, level, out []Hash) Hash {
	for len(level) >= parallelMin {
		pairs := len(level) / 2
		next := out[:pairs+len(level)%2]
		parallelFor(pairs, func(lo, hi int) {
			for p := lo; p < hi; p++ {
				next[p] = nodeHash(alg, level[2*p], level[2*p+1])
			}
		})
		if len(level)%2 == 1 {
			next[pairs] = level[len(level)-1]
		}
		level, out = next, level
	}
	return reduceRoot(alg, level)
}
