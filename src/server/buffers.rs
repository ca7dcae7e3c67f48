//! A worker's spare connection buffers, so idle connections hold none.
//!
//! A connection borrows a read buffer and an output buffer from its worker's pool when it has
//! bytes to handle, and gives them back when it has nothing left in flight — which, for a
//! keep-alive client whose requests arrive whole and whose responses leave whole, is at the end
//! of every wakeup. So the hot path allocates nothing, and an idle connection costs its struct
//! and no buffers (nginx frees an idle connection's buffers for the same reason).

use super::conn::INITIAL_READ_BUFFER;

/// Most spare buffers of each kind kept per worker; a burst beyond this is freed, not hoarded.
const MAX_SPARES: usize = 64;

/// Largest output buffer worth keeping for reuse; larger ones (after a big response) are freed.
const MAX_REUSED_OUTPUT: usize = 64 * 1024;

/// Spare read and output buffers.
#[derive(Debug, Default)]
pub struct BufferPool {
    inputs: Vec<Vec<u8>>,
    outputs: Vec<Vec<u8>>,
}

impl BufferPool {
    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// A zero-filled read buffer of [`INITIAL_READ_BUFFER`] bytes.
    pub fn take_input(&mut self) -> Vec<u8> {
        self.inputs.pop().unwrap_or_else(|| vec![0; INITIAL_READ_BUFFER])
    }

    /// Returns a read buffer; only initial-size ones are kept (grown ones are freed).
    pub fn put_input(&mut self, buffer: Vec<u8>) {
        if buffer.len() == INITIAL_READ_BUFFER && self.inputs.len() < MAX_SPARES {
            self.inputs.push(buffer);
        }
    }

    /// An empty output buffer with some capacity.
    pub fn take_output(&mut self) -> Vec<u8> {
        self.outputs.pop().unwrap_or_else(|| Vec::with_capacity(INITIAL_READ_BUFFER))
    }

    /// Returns an output buffer (emptied).
    pub fn put_output(&mut self, mut buffer: Vec<u8>) {
        if buffer.capacity() > 0 && buffer.capacity() <= MAX_REUSED_OUTPUT && self.outputs.len() < MAX_SPARES
        {
            buffer.clear();
            self.outputs.push(buffer);
        }
    }

    /// Spare buffers held (inputs, outputs).
    pub fn spares(&self) -> (usize, usize) {
        (self.inputs.len(), self.outputs.len())
    }
}
