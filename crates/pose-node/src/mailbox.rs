//! Mailboxes for users: messages an enclave addressed to a user wait here until the user
//! fetches them (long poll). The node cannot read them: replies are encrypted to the user's
//! reply key and signed by the enclave.
//!
//! Limits: at most [`MAILBOXES_MAX`] addresses and [`MAILBOX_MESSAGES_MAX`] messages each; when
//! a mailbox is full its oldest message is dropped (a user who misses a reply retries its
//! request, which is idempotent, or challenges on-chain).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use pose_types::Address;
use tokio::sync::Notify;

/// Most addresses with queued messages at once; a new address beyond it evicts the fullest.
pub const MAILBOXES_MAX: usize = 10_000;
/// Most queued messages per address.
pub const MAILBOX_MESSAGES_MAX: usize = 256;
/// Most messages handed out by one fetch.
pub const FETCH_BATCH_MAX: usize = 64;

/// All mailboxes of one node.
#[derive(Default)]
pub struct Mailboxes {
    boxes: Mutex<BTreeMap<Address, VecDeque<Vec<u8>>>>,
    arrived: Notify,
}

impl Mailboxes {
    /// Queues `bytes` for `to`.
    pub fn deliver(&self, to: Address, bytes: Vec<u8>) {
        {
            let mut boxes = self.boxes.lock().unwrap_or_else(|p| p.into_inner());
            if !boxes.contains_key(&to) && boxes.len() >= MAILBOXES_MAX {
                let fullest = boxes.iter().max_by_key(|(_, q)| q.len()).map(|(a, _)| *a);
                if let Some(a) = fullest {
                    boxes.remove(&a);
                }
            }
            let queue = boxes.entry(to).or_default();
            if queue.len() >= MAILBOX_MESSAGES_MAX {
                queue.pop_front();
            }
            queue.push_back(bytes);
        }
        self.arrived.notify_waiters();
    }

    /// Takes up to [`FETCH_BATCH_MAX`] messages for `to`, waiting up to `wait` for the first.
    pub async fn fetch(&self, to: Address, wait: Duration) -> Vec<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let taken = self.take(to);
            if !taken.is_empty() {
                return taken;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Vec::new();
            }
        }
    }

    fn take(&self, to: Address) -> Vec<Vec<u8>> {
        let mut boxes = self.boxes.lock().unwrap_or_else(|p| p.into_inner());
        let Some(queue) = boxes.get_mut(&to) else {
            return Vec::new();
        };
        let n = queue.len().min(FETCH_BATCH_MAX);
        let taken: Vec<Vec<u8>> = queue.drain(..n).collect();
        if queue.is_empty() {
            boxes.remove(&to);
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiting_fetch_wakes_when_a_message_arrives() {
        let boxes = std::sync::Arc::new(Mailboxes::default());
        let user = Address([7; 20]);
        let waiter = {
            let boxes = boxes.clone();
            tokio::spawn(async move { boxes.fetch(user, Duration::from_secs(10)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        boxes.deliver(Address([8; 20]), b"not yours".to_vec());
        boxes.deliver(user, b"reply".to_vec());
        assert_eq!(waiter.await.unwrap(), vec![b"reply".to_vec()]);
        assert!(boxes.fetch(user, Duration::ZERO).await.is_empty());
    }

    #[tokio::test]
    async fn a_full_mailbox_drops_its_oldest_message() {
        let boxes = Mailboxes::default();
        let user = Address([1; 20]);
        for i in 0..(MAILBOX_MESSAGES_MAX + 1) {
            boxes.deliver(user, (i as u32).to_be_bytes().to_vec());
        }
        let first = boxes.fetch(user, Duration::ZERO).await;
        assert_eq!(first.len(), FETCH_BATCH_MAX);
        assert_eq!(
            first[0],
            1u32.to_be_bytes().to_vec(),
            "message 0 was dropped"
        );
    }
}
