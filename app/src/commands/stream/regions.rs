//! Bits per byte and per character of a streamed document, summed over fixed regions of token
//! positions: how well the model predicts the text, and whether that holds deep into it.

/// What the model paid for the tokens of one region (or of the whole input).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Region {
    /// First position of the region.
    pub start: u64,
    /// One past its last position.
    pub end: u64,
    /// Predicted tokens (bytes) in it.
    pub tokens: u64,
    /// Of those, the ones that begin a character.
    pub chars: u64,
    /// Their summed negative log-likelihood, in nats.
    pub nats: f64,
}

impl Region {
    /// Bits per predicted byte.
    pub fn bits_per_byte(&self) -> f64 {
        self.nats / std::f64::consts::LN_2 / self.tokens.max(1) as f64
    }

    /// Bits per character: the bytes' bits over the characters they make.
    pub fn bits_per_char(&self) -> f64 {
        self.nats / std::f64::consts::LN_2 / self.chars.max(1) as f64
    }

    fn add(&mut self, nats: f32, begins_char: bool) {
        self.tokens += 1;
        self.chars += u64::from(begins_char);
        self.nats += f64::from(nats);
    }
}

/// Sums predictions into regions of `size` positions: region `r` holds positions
/// `r·size .. (r+1)·size`, counted over the whole stream (a resumed stream continues them).
#[derive(Debug)]
pub struct Regions {
    size: u64,
    current: Option<Region>,
    /// Everything added.
    pub total: Region,
}

impl Regions {
    /// Regions of `size` (≥ 1) positions.
    pub fn new(size: u64) -> Self {
        Self {
            size: size.max(1),
            current: None,
            total: Region::default(),
        }
    }

    /// Adds the prediction of the token at `position` (positions arrive in increasing order);
    /// returns the region it closed, if it began a new one.
    pub fn add(&mut self, position: u64, nats: f32, begins_char: bool) -> Option<Region> {
        let start = position / self.size * self.size;
        let closed = match &self.current {
            Some(r) if r.start == start => None,
            _ => self.current.replace(Region {
                start,
                end: start + self.size,
                ..Region::default()
            }),
        };
        if self.total.tokens == 0 {
            self.total.start = position;
        }
        self.total.end = position + 1;
        self.total.add(nats, begins_char);
        self.current
            .as_mut()
            .expect("set above")
            .add(nats, begins_char);
        closed
    }

    /// The last region, cut at the last position added.
    pub fn finish(&mut self) -> Option<Region> {
        self.current.take().map(|mut r| {
            r.end = r.end.min(self.total.end);
            r
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predictions_fall_into_their_regions_and_bits_are_per_byte_and_per_char() {
        let mut regions = Regions::new(4);
        let mut closed = Vec::new();
        // Positions 1..=9; every other byte begins a character; ln 2 nats = 1 bit each.
        for p in 1..=9u64 {
            closed.extend(regions.add(p, std::f32::consts::LN_2, p % 2 == 1));
        }
        closed.extend(regions.finish());
        let spans: Vec<(u64, u64, u64)> =
            closed.iter().map(|r| (r.start, r.end, r.tokens)).collect();
        assert_eq!(spans, vec![(0, 4, 3), (4, 8, 4), (8, 10, 2)]);
        assert!((closed[1].bits_per_byte() - 1.0).abs() < 1e-6);
        assert!((closed[1].bits_per_char() - 2.0).abs() < 1e-6);
        assert_eq!(
            (regions.total.start, regions.total.end, regions.total.tokens),
            (1, 10, 9)
        );
        assert_eq!(regions.total.chars, 5);
    }
}
