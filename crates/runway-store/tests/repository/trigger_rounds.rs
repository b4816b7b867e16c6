//! Triggers that arrive while a batch is being written go into the next
//! batch, each decided against the slots the batches before it took. On
//! SQLite (one writer) batches are decided in arrival order; on PostgreSQL
//! up to four writers take batches at once, each locking its deployments,
//! so which trigger gets a slot may differ, never how many do.

use std::sync::{Arc, Mutex, OnceLock};

use futures::FutureExt;
use runway_store::repo::deployments;
use runway_store::repo::trigger_queue::TriggerQueue;
use runway_store::{Store, StoreError};

use super::{deployment, now, org, slot_gate};

pub async fn triggers_queued_during_a_batch_go_into_the_next(store: &Store) {
    let org_id = org(store).await;
    let dep = deployment(store, &org_id, 3).await;
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let queue_cell: Arc<OnceLock<TriggerQueue<StoreError>>> = Arc::new(OnceLock::new());
    let observe = {
        let (sizes, queue_cell, org_id, dep) = (
            sizes.clone(),
            queue_cell.clone(),
            org_id.clone(),
            dep.clone(),
        );
        Arc::new(move |size: usize| {
            let mut sizes = sizes.lock().unwrap();
            sizes.push(size);
            if sizes.len() == 1 {
                // Four more arrive as the first batch is about to be
                // written. Polled once, each is queued; its caller then
                // goes, as a dropped request would (the run stays recorded).
                let queue = queue_cell.get().expect("the queue is set");
                for _ in 0..4 {
                    assert!(
                        queue
                            .trigger(&org_id, &dep, now(), None)
                            .now_or_never()
                            .is_none()
                    );
                }
            }
        })
    };
    let queue = TriggerQueue::start(store.clone(), slot_gate, observe);
    assert!(queue_cell.set(queue.clone()).is_ok());

    let first = queue.trigger(&org_id, &dep, now(), None).await.unwrap();
    let first = first.expect("deployment exists").status.name();
    // Queued after the four.
    let last = queue.trigger(&org_id, &dep, now(), None).await.unwrap();
    let last = last.expect("deployment exists").status.name();
    if store.backend() == runway_store::Backend::Sqlite {
        assert_eq!((first, last), ("running", "skipped"));
    }

    let sizes = sizes.lock().unwrap().clone();
    assert_eq!(sizes[..2], [1, 4], "batches: {sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), 6, "batches: {sizes:?}");
    // On PostgreSQL the batch of four may still be committing on another
    // writer when the last trigger's own batch has answered: wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let row = loop {
        let row = deployments::get(store, &org_id, &dep)
            .await
            .unwrap()
            .unwrap();
        if row.total_runs == 6 || std::time::Instant::now() > deadline {
            break row;
        }
        tokio::task::yield_now().await;
    };
    assert_eq!((row.total_runs, row.active_runs), (6, 3));
}
