//! TEMPORARY stand-in until the compact keydir lands.
use parking_lot::RwLock;
use std::collections::HashMap;
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Loc {
    pub file_id: u32,
    pub offset: u32,
    pub len: u32,
}
#[derive(Default)]
pub struct KeyDir {
    m: RwLock<HashMap<Box<[u8]>, Loc>>,
}
impl KeyDir {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn get(&self, k: &[u8]) -> Option<Loc> {
        self.m.read().get(k).copied()
    }
    pub fn contains(&self, k: &[u8]) -> bool {
        self.m.read().contains_key(k)
    }
    pub fn insert(&self, k: &[u8], l: Loc) -> Option<Loc> {
        self.m.write().insert(k.into(), l)
    }
    pub fn remove(&self, k: &[u8]) -> Option<Loc> {
        self.m.write().remove(k)
    }
    pub fn len(&self) -> usize {
        self.m.read().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn for_each(&self, mut f: impl FnMut(&[u8], Loc)) {
        for (k, v) in self.m.read().iter() {
            f(k, *v)
        }
    }
}
