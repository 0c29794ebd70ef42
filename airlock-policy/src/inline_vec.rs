//! A vector that keeps its first `N` elements inline and spills to the heap only
//! beyond them: the checker's scratch lists stay off the heap for ordinary argv.

use std::ops::{Deref, DerefMut};

/// Up to `N` elements inline, the rest on the heap.
#[derive(Debug, Clone)]
pub(crate) struct InlineVec<T: Copy + Default, const N: usize> {
    inline: [T; N],
    len: usize,
    spill: Vec<T>,
}

impl<T: Copy + Default, const N: usize> Default for InlineVec<T, N> {
    fn default() -> Self {
        Self {
            inline: [T::default(); N],
            len: 0,
            spill: Vec::new(),
        }
    }
}

impl<T: Copy + Default, const N: usize> InlineVec<T, N> {
    /// Appends `value`.
    pub(crate) fn push(&mut self, value: T) {
        if !self.spill.is_empty() {
            self.spill.push(value);
        } else if let Some(slot) = self.inline.get_mut(self.len) {
            *slot = value;
            self.len += 1;
        } else {
            self.spill.reserve(N * 2);
            self.spill.extend_from_slice(&self.inline);
            self.spill.push(value);
        }
    }

    /// Appends every element of `values`.
    pub(crate) fn extend_from_slice(&mut self, values: &[T]) {
        for value in values {
            self.push(*value);
        }
    }

    /// Removes every element.
    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.spill.clear();
    }

    /// Sorts and removes repeated elements.
    pub(crate) fn sort_dedup(&mut self)
    where
        T: Ord,
    {
        if !self.spill.is_empty() {
            self.spill.sort_unstable();
            self.spill.dedup();
            return;
        }
        let items = self.deref_mut();
        items.sort_unstable();
        let mut kept: usize = 0;
        for i in 0..items.len() {
            let Some(&current) = items.get(i) else {
                continue;
            };
            if kept == 0 || items.get(kept - 1) != Some(&current) {
                if let Some(slot) = items.get_mut(kept) {
                    *slot = current;
                }
                kept += 1;
            }
        }
        self.len = kept;
    }
}

impl<T: Copy + Default, const N: usize> Deref for InlineVec<T, N> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        if self.spill.is_empty() {
            self.inline.get(..self.len).unwrap_or(&[])
        } else {
            &self.spill
        }
    }
}

impl<T: Copy + Default, const N: usize> DerefMut for InlineVec<T, N> {
    fn deref_mut(&mut self) -> &mut [T] {
        if self.spill.is_empty() {
            self.inline.get_mut(..self.len).unwrap_or(&mut [])
        } else {
            &mut self.spill
        }
    }
}

impl<'v, T: Copy + Default, const N: usize> IntoIterator for &'v InlineVec<T, N> {
    type Item = &'v T;
    type IntoIter = std::slice::Iter<'v, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T: Copy + Default + PartialEq, const N: usize> PartialEq for InlineVec<T, N> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Copy + Default + Eq, const N: usize> Eq for InlineVec<T, N> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn behaves_like_a_vec(values in prop::collection::vec(0u32..20, 0..40)) {
            let mut inline: InlineVec<u32, 8> = InlineVec::default();
            inline.extend_from_slice(&values);
            prop_assert_eq!(&*inline, &values[..]);
            let mut expected = values.clone();
            expected.sort_unstable();
            expected.dedup();
            inline.sort_dedup();
            prop_assert_eq!(&*inline, &expected[..]);
            inline.clear();
            prop_assert!(inline.is_empty());
            inline.push(3);
            prop_assert_eq!(&*inline, &[3][..]);
        }
    }
}
