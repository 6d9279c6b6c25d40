//! Slicing cards by memory: an instance gets its function's `gpuMemorySize` on one card, the best fit (the
//! card with the least memory free that still has room, so large requests are not starved by small ones).

use crate::Card;
use serde::Serialize;

/// A slice of one card, held by one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Slice {
    pub card: u32,
    pub uuid: String,
    pub memory_mb: u32,
    pub simulated: bool,
}

/// Who holds a slice, as `fcemu gpus` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SliceView {
    pub instance_id: String,
    pub function_name: String,
    pub memory_mb: u32,
}

/// A card and what is allotted on it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CardView {
    #[serde(flatten)]
    pub card: Card,
    pub allotted_mb: u32,
    pub slices: Vec<SliceView>,
}

pub struct Allocator {
    cards: Vec<CardView>,
}

impl Allocator {
    pub fn new(cards: Vec<Card>) -> Self {
        Allocator {
            cards: cards
                .into_iter()
                .map(|card| CardView {
                    card,
                    allotted_mb: 0,
                    slices: Vec::new(),
                })
                .collect(),
        }
    }

    pub fn cards(&self) -> impl Iterator<Item = &Card> {
        self.cards.iter().map(|c| &c.card)
    }

    /// The largest card's memory: a function that asks for more can never be placed.
    pub fn largest_mb(&self) -> Option<u32> {
        self.cards().map(|c| c.memory_mb).max()
    }

    /// A slice of `memory_mb` for `instance`, on the card with the least memory free that still has room
    /// (the lower index when two have as much). None when no card has room now.
    pub fn allot(&mut self, instance: &str, function: &str, memory_mb: u32) -> Option<Slice> {
        let card = self
            .cards
            .iter_mut()
            .filter(|c| c.card.memory_mb - c.allotted_mb >= memory_mb)
            .min_by_key(|c| (c.card.memory_mb - c.allotted_mb, c.card.index))?;
        card.allotted_mb += memory_mb;
        card.slices.push(SliceView {
            instance_id: instance.to_string(),
            function_name: function.to_string(),
            memory_mb,
        });
        Some(Slice {
            card: card.card.index,
            uuid: card.card.uuid.clone(),
            memory_mb,
            simulated: card.card.simulated,
        })
    }

    /// Gives back what `instance` holds; None if it holds nothing.
    pub fn release(&mut self, instance: &str) -> Option<Slice> {
        self.cards.iter_mut().find_map(|c| {
            let at = c.slices.iter().position(|s| s.instance_id == instance)?;
            let held = c.slices.remove(at);
            c.allotted_mb -= held.memory_mb;
            Some(Slice {
                card: c.card.index,
                uuid: c.card.uuid.clone(),
                memory_mb: held.memory_mb,
                simulated: c.card.simulated,
            })
        })
    }

    /// Every card with what is allotted on it.
    pub fn view(&self) -> Vec<CardView> {
        self.cards.clone()
    }

    /// `#0 0 MB, #1 8192 MB`: the memory each card has free (a simulated card says so).
    pub fn describe_free(&self) -> String {
        self.cards
            .iter()
            .map(|c| {
                let simulated = if c.card.simulated { " (simulated)" } else { "" };
                format!(
                    "#{} {} MB{simulated}",
                    c.card.index,
                    c.card.memory_mb - c.allotted_mb
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(index: u32, memory_mb: u32) -> Card {
        Card {
            index,
            name: "NVIDIA test".into(),
            uuid: format!("GPU-{index}"),
            memory_mb,
            simulated: false,
        }
    }

    #[test]
    fn two_slices_share_a_card_and_a_third_goes_to_the_next_with_room() {
        let mut a = Allocator::new(vec![card(0, 49152), card(1, 49152)]);
        let first = a.allot("c-1", "sd", 24576).unwrap();
        let second = a.allot("c-2", "sd", 24576).unwrap();
        let third = a.allot("c-3", "sd", 24576).unwrap();
        assert_eq!((first.card, second.card, third.card), (0, 0, 1));
        assert_eq!(third.uuid, "GPU-1");
        assert_eq!(a.describe_free(), "#0 0 MB, #1 24576 MB");
    }

    #[test]
    fn best_fit_keeps_the_large_room_for_a_large_request() {
        // Card 0 has 16 GB free, card 1 48 GB: an 8 GB slice goes to card 0, so 40 GB still fits on card 1.
        let mut a = Allocator::new(vec![card(0, 49152), card(1, 49152)]);
        a.allot("c-big", "llm", 32768).unwrap();
        assert_eq!(a.allot("c-small", "sd", 8192).unwrap().card, 0);
        assert_eq!(a.allot("c-large", "llm", 40960).unwrap().card, 1);
    }

    #[test]
    fn a_slice_is_never_split_and_what_is_freed_can_be_allotted_again() {
        let mut a = Allocator::new(vec![card(0, 16384), card(1, 16384)]);
        a.allot("c-1", "f", 12288).unwrap();
        a.allot("c-2", "f", 12288).unwrap();
        assert_eq!(
            a.allot("c-3", "f", 8192),
            None,
            "8 GB free in all, but 4 GB on each card"
        );
        assert_eq!(a.release("c-1").unwrap().card, 0);
        assert_eq!(a.release("c-1"), None, "released once");
        assert_eq!(a.allot("c-3", "f", 8192).unwrap().card, 0);
        let view = a.view();
        assert_eq!(view[0].allotted_mb, 8192);
        assert_eq!(view[0].slices[0].instance_id, "c-3");
        assert_eq!(a.largest_mb(), Some(16384));
    }
}
