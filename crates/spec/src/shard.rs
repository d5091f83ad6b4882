//! Which tickers a producer replica fetches.
//!
//! Replicas must agree without talking to each other, every ticker must have exactly one owner,
//! owners must be balanced (a replica with twice the tickers hits the provider's rate limit
//! first), and scaling from N to N+1 replicas should move as few tickers as possible (each move
//! is a resubscribe and a gap risk). Rendezvous hashing gives agreement and minimal movement;
//! capping each replica at ceil(T/N) tickers ("bounded loads") gives balance. Tickers are placed
//! in the order of their own hash so the result does not depend on how the list was written.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use stockfeed_record::Symbol;

/// This replica's position among its peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("replica index {index} is not below the replica count {count} (count must be at least 1)")]
pub struct ShardError {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub fn new(index: u32, count: u32) -> Result<Self, ShardError> {
        if count == 0 || index >= count {
            return Err(ShardError { index, count });
        }
        Ok(Shard { index, count })
    }

    pub fn single() -> Self {
        Shard { index: 0, count: 1 }
    }

    pub fn index(self) -> u32 {
        self.index
    }

    pub fn count(self) -> u32 {
        self.count
    }

    /// The tickers this replica owns, in the order given.
    pub fn select(self, tickers: &[Symbol]) -> Vec<Symbol> {
        let owners = assign(tickers, self.count);
        tickers
            .iter()
            .zip(owners)
            .filter(|(_, owner)| *owner == self.index)
            .map(|(t, _)| t.clone())
            .collect()
    }
}

fn score(ticker: &Symbol, replica: u32) -> u64 {
    xxh3_64_with_seed(ticker.as_str().as_bytes(), u64::from(replica))
}

/// The owning replica of each ticker (parallel to `tickers`).
pub fn assign(tickers: &[Symbol], count: u32) -> Vec<u32> {
    let count = count.max(1);
    let cap = tickers.len().div_ceil(count as usize);
    let mut load = vec![0_usize; count as usize];
    let mut owners = vec![0_u32; tickers.len()];
    let mut order: Vec<usize> = (0..tickers.len()).collect();
    order.sort_by_key(|&i| {
        (
            xxh3_64_with_seed(tickers[i].as_str().as_bytes(), u64::MAX),
            tickers[i].clone(),
        )
    });
    for i in order {
        let mut ranked: Vec<u32> = (0..count).collect();
        ranked.sort_by_key(|&r| std::cmp::Reverse(score(&tickers[i], r)));
        let owner = ranked
            .into_iter()
            .find(|&r| load[r as usize] < cap)
            .unwrap_or(0);
        load[owner as usize] += 1;
        owners[i] = owner;
    }
    owners
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tickers(n: usize) -> Vec<Symbol> {
        (0..n)
            .map(|i| Symbol::new(&format!("T{i}")).unwrap())
            .collect()
    }

    #[test]
    fn every_ticker_has_exactly_one_owner_and_loads_are_balanced() {
        let all = tickers(1000);
        for count in [1_u32, 2, 3, 7, 10] {
            let mut seen = Vec::new();
            for index in 0..count {
                let mine = Shard::new(index, count).unwrap().select(&all);
                assert!(
                    mine.len() <= all.len().div_ceil(count as usize),
                    "replica {index}/{count} has {}",
                    mine.len()
                );
                seen.extend(mine);
            }
            seen.sort();
            let mut expected = all.clone();
            expected.sort();
            assert_eq!(seen, expected, "count {count}");
        }
    }

    #[test]
    fn order_of_the_list_does_not_matter() {
        let all = tickers(50);
        let mut reversed = all.clone();
        reversed.reverse();
        let a = Shard::new(1, 3).unwrap().select(&all);
        let mut b = Shard::new(1, 3).unwrap().select(&reversed);
        b.reverse();
        assert_eq!(a, b);
    }

    #[test]
    fn scaling_out_moves_few_tickers() {
        let all = tickers(1000);
        let before = assign(&all, 4);
        let after = assign(&all, 5);
        let moved = before.iter().zip(&after).filter(|(a, b)| a != b).count();
        // The ideal is 1000/5 = 200 (only moves onto the new replica); bounded loads add a few.
        assert!(
            moved < 320,
            "{moved} of 1000 tickers moved going from 4 to 5 replicas"
        );
    }

    #[test]
    fn small_lists_are_balanced_too() {
        let all = tickers(3);
        let loads: Vec<usize> = (0..2)
            .map(|i| Shard::new(i, 2).unwrap().select(&all).len())
            .collect();
        assert_eq!(loads.iter().sum::<usize>(), 3);
        assert!(loads.iter().all(|&l| l <= 2), "{loads:?}");
    }

    #[test]
    fn invalid_shards_are_refused() {
        assert!(Shard::new(0, 0).is_err());
        assert!(Shard::new(3, 3).is_err());
    }
}
