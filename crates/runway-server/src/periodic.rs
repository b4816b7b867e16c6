//! The loop every background worker runs: a pass per tick until shutdown.

use std::time::Duration;

/// Runs `pass` every `interval` (a slow pass delays the next tick rather
/// than bunching ticks up) until `shutdown` resolves.
pub(crate) async fn every<F, Fut>(
    interval: Duration,
    shutdown: impl Future<Output = ()>,
    mut pass: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tick.tick() => pass().await,
        }
    }
}

/// Like [`every`], but `shutdown` also ends a pass midway (for passes that
/// may run for minutes and are safe to drop between awaits).
pub(crate) async fn every_cancelling<F, Fut>(
    interval: Duration,
    shutdown: impl Future<Output = ()>,
    mut pass: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tick.tick() => {}
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = pass() => {}
        }
    }
}
