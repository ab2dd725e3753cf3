//! Warnings (something was changed or dropped) and errors (nothing can be emitted).
use std::fmt;

use crate::input::Location;

/// A field that could not be carried over unchanged. Printed as
/// `WARN <file>:<doc#> <kind>/<name> <field>: <message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where the source object came from.
    pub location: Location,
    /// Kind of the source object (e.g. `Provisioner`).
    pub kind: String,
    /// Name of the source object.
    pub name: String,
    /// The source field, as a dotted path (e.g. `spec.kubeletConfiguration.containerRuntime`).
    pub field: String,
    /// What happened and what to do about it.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "WARN {} {}/{} {}: {}",
            self.location, self.kind, self.name, self.field, self.message
        )
    }
}

/// An object that cannot be converted, with its location and the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location} {kind}/{name} {field}: {message}")]
pub struct ObjectError {
    /// Where the source object came from.
    pub location: Location,
    /// Kind of the source object.
    pub kind: String,
    /// Name of the source object (`<unnamed>` when absent).
    pub name: String,
    /// The offending field, as a dotted path.
    pub field: String,
    /// Why it cannot be converted and how to fix the input.
    pub message: String,
}

/// Every object error found in one run (conversion continues past the first one so that a
/// user fixes all of them at once).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConvertErrors(pub Vec<ObjectError>);

impl fmt::Display for ConvertErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [] => write!(f, "no errors"),
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} objects cannot be converted:", many.len())?;
                for e in many {
                    write!(f, "\n  {e}")?;
                }
                Ok(())
            }
        }
    }
}
