//! Ordered, pipelined publishing: commands are handed to the client in
//! order without waiting for each acknowledgement, with a bounded number
//! in flight.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tern_mqtt::client::PublishOutcome;
use tern_mqtt::session::PublishCommand;
use tern_mqtt::{Client, Error};
use tokio::task::JoinHandle;

/// Publishes in order with up to `window` publishes awaiting completion.
pub struct Pipeline {
    client: Client,
    window: usize,
    pending: VecDeque<JoinHandle<Result<PublishOutcome, Error>>>,
    completed: Arc<AtomicU64>,
}

impl Pipeline {
    /// A pipeline over `client`; `completed` counts successful publishes.
    pub fn new(client: Client, window: usize, completed: Arc<AtomicU64>) -> Self {
        Pipeline {
            client,
            window: window.max(1),
            pending: VecDeque::new(),
            completed,
        }
    }

    /// Waits until another publish may be handed over (call it before
    /// building a command whose payload carries a timestamp).
    pub async fn ready(&mut self) -> Result<(), Error> {
        while self.pending.len() >= self.window {
            self.complete_oldest().await?;
        }
        Ok(())
    }

    /// Hands a publish to the client; its completion is checked later.
    pub async fn send(&mut self, cmd: PublishCommand) -> Result<(), Error> {
        self.ready().await?;
        loop {
            match self.client.try_publish(cmd.clone()) {
                Ok(fut) => {
                    let completed = self.completed.clone();
                    self.pending.push_back(tokio::spawn(async move {
                        let outcome = fut.await;
                        if outcome.is_ok() {
                            completed.fetch_add(1, Ordering::Relaxed);
                        }
                        outcome
                    }));
                    return Ok(());
                }
                Err(Error::QueueFull) => {
                    if self.pending.is_empty() {
                        // The queue is full of someone else's publishes.
                        self.client.publish_command(cmd).await?;
                        self.completed.fetch_add(1, Ordering::Relaxed);
                        return Ok(());
                    }
                    self.complete_oldest().await?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits for every publish handed over so far.
    pub async fn finish(&mut self) -> Result<(), Error> {
        while !self.pending.is_empty() {
            self.complete_oldest().await?;
        }
        Ok(())
    }

    async fn complete_oldest(&mut self) -> Result<(), Error> {
        if let Some(handle) = self.pending.pop_front() {
            match handle.await {
                Ok(outcome) => {
                    outcome?;
                }
                Err(_) => return Err(Error::Closed),
            }
        }
        Ok(())
    }
}
