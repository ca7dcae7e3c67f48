//! Values middleware hands to handlers, one per type: the authenticated user, a tenant, a
//! feature flag — whatever a `before` hook learns that a handler needs.

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::Arc;

/// A typed map holding at most one value of each type. Empty, it costs nothing: no allocation
/// until the first insert. A request carries a handful at most, so a list beats a hash map.
#[derive(Clone, Default)]
pub struct Extensions {
    values: Vec<(TypeId, Arc<dyn Any + Send + Sync>)>,
}

impl Extensions {
    /// Stores `value`, replacing (and returning whether there was) one of the same type.
    pub fn insert<T: Any + Send + Sync>(&mut self, value: T) -> bool {
        let value: Arc<dyn Any + Send + Sync> = Arc::new(value);
        match self.values.iter_mut().find(|(id, _)| *id == TypeId::of::<T>()) {
            Some(slot) => {
                slot.1 = value;
                true
            }
            None => {
                self.values.push((TypeId::of::<T>(), value));
                false
            }
        }
    }

    /// The value of type `T`, if one was stored.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.values
            .iter()
            .find(|(id, _)| *id == TypeId::of::<T>())
            .and_then(|(_, value)| value.downcast_ref())
    }

    /// Removes the value of type `T`; whether there was one.
    pub fn remove<T: Any>(&mut self) -> bool {
        let before = self.values.len();
        self.values.retain(|(id, _)| *id != TypeId::of::<T>());
        self.values.len() < before
    }

    /// How many values are stored.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Extensions({} values)", self.values.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Tenant(&'static str);

    #[test]
    fn one_value_per_type() {
        let mut extensions = Extensions::default();
        assert!(extensions.get::<Tenant>().is_none());
        assert!(!extensions.insert(Tenant("acme")));
        assert!(!extensions.insert(7u32));
        assert_eq!(extensions.get::<Tenant>(), Some(&Tenant("acme")));
        assert!(extensions.insert(Tenant("globex")), "replaced");
        assert_eq!(
            (extensions.get::<Tenant>(), extensions.get::<u32>()),
            (Some(&Tenant("globex")), Some(&7))
        );
        assert!(extensions.remove::<u32>() && !extensions.remove::<u32>());
        assert_eq!(extensions.len(), 1);
    }
}
