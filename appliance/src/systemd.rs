//! systemd integration: `READY=1` once the listener is up, `STOPPING=1` on shutdown, and
//! watchdog pings at half of `WATCHDOG_USEC` when the unit sets `WatchdogSec=`. Outside systemd
//! (no `NOTIFY_SOCKET`) every call is a no-op.

use tokio::sync::watch;

/// Tells systemd the service is ready.
pub fn notify_ready() {
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::warn!(error = %e, "sd_notify READY=1 failed");
    }
}

/// Tells systemd the service is stopping.
pub fn notify_stopping() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
}

/// Pings the watchdog until `shutdown` fires, if the unit asked for it.
pub fn spawn_watchdog(mut shutdown: watch::Receiver<bool>) {
    let Some(timeout) = sd_notify::watchdog_enabled() else {
        return;
    };
    let period = timeout / 2;
    tracing::info!(
        period_ms = period.as_millis() as u64,
        "systemd watchdog enabled"
    );
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = tick.tick() => {
                    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]) {
                        tracing::warn!(error = %e, "watchdog ping failed");
                    }
                }
            }
        }
    });
}
