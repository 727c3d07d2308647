//! A value that a configuration reload replaces whole while calls keep
//! reading it: each reader takes the current `Arc` and keeps that snapshot
//! for as long as it needs it, so nothing is torn down under a call.

use std::sync::{Arc, PoisonError, RwLock};

/// The current `T`, replaceable at once.
pub struct Swap<T>(RwLock<Arc<T>>);

impl<T> Swap<T> {
    /// Holds `value`.
    pub fn new(value: T) -> Self {
        Self::from_arc(Arc::new(value))
    }

    /// Holds `value`, already shared.
    pub fn from_arc(value: Arc<T>) -> Self {
        Self(RwLock::new(value))
    }

    /// The value now (a snapshot: later replacements do not change it).
    pub fn load(&self) -> Arc<T> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the value for every later [`Swap::load`].
    pub fn store(&self, value: Arc<T>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = value;
    }
}
