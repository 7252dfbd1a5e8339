//! [`AttrMap`]: attribute → values, ordered by attribute name (case-insensitively).
//!
//! An entry has a dozen attributes, and a run holds up to one entry per person at once (the
//! HR side usually runs ahead of the directory's). A `BTreeMap` spends about 1.4 KB of nodes
//! on a dozen attributes; a sorted vector spends 40 bytes a pair, and finds a name by binary
//! search. The methods are the `BTreeMap` ones hrsync uses, with the same meaning.

use crate::attr::AttrName;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

type Pair = (AttrName, Vec<String>);

/// Attribute → values, sorted by name. Values are kept sorted and de-duplicated where the
/// caller normalises them ([`crate::attr::normalize_values`]); the map does not.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AttrMap {
    pairs: Vec<Pair>,
}

/// Borrowing iterator over an [`AttrMap`]'s pairs, in name order.
pub type Iter<'a> =
    std::iter::Map<std::slice::Iter<'a, Pair>, fn(&'a Pair) -> (&'a AttrName, &'a Vec<String>)>;
/// Mutably borrowing iterator over an [`AttrMap`]'s pairs, in name order.
pub type IterMut<'a> = std::iter::Map<
    std::slice::IterMut<'a, Pair>,
    fn(&'a mut Pair) -> (&'a AttrName, &'a mut Vec<String>),
>;

impl AttrMap {
    pub fn new() -> Self {
        AttrMap { pairs: Vec::new() }
    }
    pub fn with_capacity(n: usize) -> Self {
        AttrMap {
            pairs: Vec::with_capacity(n),
        }
    }
    fn find(&self, k: &AttrName) -> Result<usize, usize> {
        self.pairs.binary_search_by(|(n, _)| n.cmp(k))
    }
    pub fn len(&self) -> usize {
        self.pairs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
    pub fn get(&self, k: &AttrName) -> Option<&Vec<String>> {
        self.find(k).ok().map(|i| &self.pairs[i].1)
    }
    pub fn get_mut(&mut self, k: &AttrName) -> Option<&mut Vec<String>> {
        match self.find(k) {
            Ok(i) => Some(&mut self.pairs[i].1),
            Err(_) => None,
        }
    }
    pub fn get_key_value(&self, k: &AttrName) -> Option<(&AttrName, &Vec<String>)> {
        self.find(k)
            .ok()
            .map(|i| (&self.pairs[i].0, &self.pairs[i].1))
    }
    pub fn contains_key(&self, k: &AttrName) -> bool {
        self.find(k).is_ok()
    }
    /// Sets `k`'s values; the old ones are returned (the stored name keeps its spelling, as a
    /// `BTreeMap` keeps its key).
    pub fn insert(&mut self, k: AttrName, v: Vec<String>) -> Option<Vec<String>> {
        // Maps are mostly built in name order: appending is the common case.
        if self.pairs.last().is_none_or(|(last, _)| *last < k) {
            self.pairs.push((k, v));
            return None;
        }
        match self.find(&k) {
            Ok(i) => Some(std::mem::replace(&mut self.pairs[i].1, v)),
            Err(i) => {
                self.pairs.insert(i, (k, v));
                None
            }
        }
    }
    pub fn remove(&mut self, k: &AttrName) -> Option<Vec<String>> {
        self.find(k).ok().map(|i| self.pairs.remove(i).1)
    }
    pub fn remove_entry(&mut self, k: &AttrName) -> Option<(AttrName, Vec<String>)> {
        self.find(k).ok().map(|i| self.pairs.remove(i))
    }
    /// `k`'s values, inserted empty first when absent.
    pub fn entry_or_default(&mut self, k: AttrName) -> &mut Vec<String> {
        let i = match self.find(&k) {
            Ok(i) => i,
            Err(i) => {
                self.pairs.insert(i, (k, Vec::new()));
                i
            }
        };
        &mut self.pairs[i].1
    }
    pub fn iter(&self) -> Iter<'_> {
        self.pairs.iter().map(|(k, v)| (k, v))
    }
    pub fn iter_mut(&mut self) -> IterMut<'_> {
        self.pairs.iter_mut().map(|(k, v)| (&*k, v))
    }
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &AttrName> + ExactSizeIterator + Clone {
        self.pairs.iter().map(|(k, _)| k)
    }
    pub fn values(
        &self,
    ) -> impl DoubleEndedIterator<Item = &Vec<String>> + ExactSizeIterator + Clone {
        self.pairs.iter().map(|(_, v)| v)
    }
    pub fn values_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = &mut Vec<String>> + ExactSizeIterator {
        self.pairs.iter_mut().map(|(_, v)| v)
    }
    pub fn into_keys(self) -> impl DoubleEndedIterator<Item = AttrName> + ExactSizeIterator {
        self.pairs.into_iter().map(|(k, _)| k)
    }
    pub fn into_values(self) -> impl DoubleEndedIterator<Item = Vec<String>> + ExactSizeIterator {
        self.pairs.into_iter().map(|(_, v)| v)
    }
    pub fn retain(&mut self, mut f: impl FnMut(&AttrName, &mut Vec<String>) -> bool) {
        self.pairs.retain_mut(|(k, v)| f(k, v));
    }
    pub fn clear(&mut self) {
        self.pairs.clear();
    }
    pub fn first_key_value(&self) -> Option<(&AttrName, &Vec<String>)> {
        self.pairs.first().map(|(k, v)| (k, v))
    }
}

impl Extend<(AttrName, Vec<String>)> for AttrMap {
    fn extend<I: IntoIterator<Item = (AttrName, Vec<String>)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl FromIterator<(AttrName, Vec<String>)> for AttrMap {
    fn from_iter<I: IntoIterator<Item = (AttrName, Vec<String>)>>(iter: I) -> Self {
        let mut m = AttrMap::new();
        m.extend(iter);
        m
    }
}

impl<const N: usize> From<[(AttrName, Vec<String>); N]> for AttrMap {
    fn from(pairs: [(AttrName, Vec<String>); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl IntoIterator for AttrMap {
    type Item = (AttrName, Vec<String>);
    type IntoIter = std::vec::IntoIter<Pair>;
    fn into_iter(self) -> Self::IntoIter {
        self.pairs.into_iter()
    }
}

impl<'a> IntoIterator for &'a AttrMap {
    type Item = (&'a AttrName, &'a Vec<String>);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut AttrMap {
    type Item = (&'a AttrName, &'a mut Vec<String>);
    type IntoIter = IterMut<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

impl std::ops::Index<&AttrName> for AttrMap {
    type Output = Vec<String>;
    fn index(&self, k: &AttrName) -> &Vec<String> {
        match self.get(k) {
            Some(v) => v,
            None => panic!("no attribute {k} in the map"),
        }
    }
}

impl fmt::Debug for AttrMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for AttrMap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.pairs.len()))?;
        for (k, v) in &self.pairs {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for AttrMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AttrMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of attribute names to lists of values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<AttrMap, A::Error> {
                let mut m = AttrMap::with_capacity(a.size_hint().unwrap_or(0).min(64));
                while let Some((k, v)) = a.next_entry::<AttrName, Vec<String>>()? {
                    m.insert(k, v);
                }
                Ok(m)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn m(pairs: &[(&str, &str)]) -> AttrMap {
        pairs
            .iter()
            .map(|(k, v)| (AttrName::from(*k), vec![v.to_string()]))
            .collect()
    }

    #[test]
    fn names_are_ordered_and_found_case_insensitively_whatever_the_insertion_order() {
        let a = m(&[("sn", "1"), ("Mail", "2"), ("cn", "3"), ("uid", "4")]);
        let names: Vec<&str> = a.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["cn", "Mail", "sn", "uid"]);
        assert_eq!(a.get(&"MAIL".into()), Some(&vec!["2".to_string()]));
        assert!(!a.contains_key(&"title".into()));
    }

    #[test]
    fn insert_replaces_and_remove_takes_out() {
        let mut a = m(&[("cn", "1"), ("sn", "2")]);
        assert_eq!(
            a.insert("CN".into(), vec!["x".into()]),
            Some(vec!["1".to_string()])
        );
        assert_eq!(a.len(), 2);
        assert_eq!(a.get(&"cn".into()), Some(&vec!["x".to_string()]));
        assert_eq!(a.remove(&"sn".into()), Some(vec!["2".to_string()]));
        assert_eq!(a.remove(&"sn".into()), None);
        assert_eq!(a.len(), 1);
        a.entry_or_default("mail".into()).push("m".into());
        a.entry_or_default("Mail".into()).push("n".into());
        assert_eq!(
            a.get(&"mail".into()),
            Some(&vec!["m".to_string(), "n".to_string()])
        );
    }

    #[test]
    fn equality_and_json_are_those_of_an_ordered_map() {
        let a = m(&[("sn", "1"), ("cn", "2")]);
        let b = m(&[("cn", "2"), ("sn", "1")]);
        assert_eq!(a, b);
        assert_ne!(a, m(&[("cn", "2")]));
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, r#"{"cn":["2"],"sn":["1"]}"#);
        let back: AttrMap = serde_json::from_str(r#"{"sn":["1"],"cn":["2"]}"#).unwrap();
        assert_eq!(back, a);
        let as_btree: std::collections::BTreeMap<AttrName, Vec<String>> =
            serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&as_btree).unwrap(), json);
    }
}
