//! One shutdown signal for every task of the host (mini-redis style).

use tokio::sync::watch;

/// Cloneable: every task holds one and awaits [`Shutdown::wait`].
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// The trigger, held by `main`.
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger(tx), Shutdown(rx))
}

impl ShutdownTrigger {
    pub fn fire(&self) {
        let _ = self.0.send(true);
    }
}

impl Shutdown {
    /// Resolves once shutdown has been triggered (or the trigger is gone).
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|v| *v).await;
    }

    pub fn is_fired(&self) -> bool {
        *self.0.borrow()
    }
}
