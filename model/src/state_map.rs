//! Every tensor of the carried state, visited by name in one fixed order. Cutting the graph at
//! a segment boundary, handing the encoder state to the next row and writing or reading a state
//! snapshot ([`crate::snapshot`]) are each one [`TensorMap`]; the state types list their tensors
//! once, in their `map_tensors`.

use std::fmt;

use burn::tensor::Tensor;

/// A function applied to each tensor of a state, told the tensor's name (`encoder.blocks.0.h`,
/// `working.slots`, `long_term.levels.2.entries`, …). It must return a tensor of the same rank.
pub trait TensorMap {
    /// The tensor that replaces `t`.
    fn map<const D: usize>(&mut self, name: Name<'_>, t: Tensor<D>) -> Tensor<D>;

    /// The value that replaces the host-side counter `value` (segments seen, tokens cached, …);
    /// kept as it is unless the map reads or writes counters.
    fn count(&mut self, _name: Name<'_>, value: u64) -> u64 {
        value
    }
}

/// A tensor's name as a path of parts (`encoder` → `blocks` → `0` → `h`), written out only
/// when a map asks for it: cutting the graph at every segment boundary builds no strings.
#[derive(Clone, Copy)]
pub struct Name<'a> {
    parent: Option<&'a Name<'a>>,
    part: Part<'a>,
}

#[derive(Clone, Copy)]
enum Part<'a> {
    Root,
    Field(&'a str),
    Index(usize),
}

impl<'a> Name<'a> {
    /// The empty name that every path starts from.
    pub const ROOT: Name<'static> = Name {
        parent: None,
        part: Part::Root,
    };

    /// `self.field`.
    pub fn field(&'a self, field: &'a str) -> Name<'a> {
        Name {
            parent: Some(self),
            part: Part::Field(field),
        }
    }

    /// `self.index`, for the items of a list (blocks, levels).
    pub fn index(&'a self, index: usize) -> Name<'a> {
        Name {
            parent: Some(self),
            part: Part::Index(index),
        }
    }

    /// Writes the path; returns whether it wrote anything (the root writes nothing).
    fn write(&self, f: &mut fmt::Formatter<'_>) -> Result<bool, fmt::Error> {
        let before = match self.parent {
            Some(parent) => parent.write(f)?,
            None => false,
        };
        if before && !matches!(self.part, Part::Root) {
            f.write_str(".")?;
        }
        match self.part {
            Part::Root => Ok(before),
            Part::Field(field) => f.write_str(field).map(|()| true),
            Part::Index(i) => write!(f, "{i}").map(|()| true),
        }
    }
}

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f).map(|_| ())
    }
}

/// Leaves the autodiff graph: the state becomes a constant.
pub struct Detach;

impl TensorMap for Detach {
    fn map<const D: usize>(&mut self, _: Name<'_>, t: Tensor<D>) -> Tensor<D> {
        t.without_autodiff()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_its_parts_joined_by_dots() {
        let root = Name::ROOT;
        assert_eq!(root.to_string(), "");
        let encoder = root.field("encoder");
        let blocks = encoder.field("blocks");
        let block = blocks.index(3);
        assert_eq!(block.field("h").to_string(), "encoder.blocks.3.h");
        assert_eq!(root.field("segments").to_string(), "segments");
        assert_eq!(Name::ROOT.index(0).to_string(), "0");
    }
}
