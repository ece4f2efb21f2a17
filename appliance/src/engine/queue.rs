//! The fair queue: one FIFO per workspace, served round robin, so that one workspace that
//! queues a hundred runs does not make another wait behind all of them.

use std::collections::{HashMap, VecDeque};

#[derive(Debug, Default)]
pub(super) struct FairQueue {
    /// Workspaces with waiting runs, in serving order.
    turns: VecDeque<String>,
    runs: HashMap<String, VecDeque<String>>,
    len: usize,
}

impl FairQueue {
    pub(super) fn push(&mut self, workspace_id: &str, run_id: &str) {
        let queue = self.runs.entry(workspace_id.to_owned()).or_default();
        if queue.is_empty() {
            self.turns.push_back(workspace_id.to_owned());
        }
        queue.push_back(run_id.to_owned());
        self.len += 1;
    }

    /// The next run: the oldest of the workspace whose turn it is.
    pub(super) fn pop(&mut self) -> Option<String> {
        let workspace = self.turns.pop_front()?;
        let queue = self.runs.get_mut(&workspace)?;
        let run = queue.pop_front();
        if queue.is_empty() {
            self.runs.remove(&workspace);
        } else {
            self.turns.push_back(workspace);
        }
        if run.is_some() {
            self.len -= 1;
        }
        run
    }

    /// Takes a run out (cancelled while queued).
    pub(super) fn remove(&mut self, run_id: &str) {
        let mut emptied = None;
        for (ws, queue) in self.runs.iter_mut() {
            if let Some(at) = queue.iter().position(|r| r == run_id) {
                queue.remove(at);
                self.len -= 1;
                if queue.is_empty() {
                    emptied = Some(ws.clone());
                }
                break;
            }
        }
        if let Some(ws) = emptied {
            self.runs.remove(&ws);
            self.turns.retain(|w| *w != ws);
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspaces_take_turns() {
        let mut q = FairQueue::default();
        for i in 0..3 {
            q.push("big", &format!("b{i}"));
        }
        q.push("small", "s0");
        assert_eq!(q.len(), 4);
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, ["b0", "s0", "b1", "b2"]);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn removing_a_queued_run() {
        let mut q = FairQueue::default();
        q.push("a", "1");
        q.push("b", "2");
        q.remove("1");
        assert_eq!(q.len(), 1);
        assert_eq!(q.pop().as_deref(), Some("2"));
        assert_eq!(q.pop(), None);
    }
}
