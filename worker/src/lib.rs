//! The `stockfeed` binary's library half: the local runner (`stockfeed run`), which wires the
//! producer and the sink of one or more StockFeeds together in one process, with topics created
//! and the catalog planned as the operator would.
//!
//! It composes the stage crates and owns none of their logic; nothing depends on it. Its
//! `tests/` hold the integration tests of every stage against real services, because they share
//! one support module and some run the binary itself.

pub mod runner;
