//! Abstract syntax tree of the CEL subset used by `x-kubernetes-validations` rules.

use regex::Regex;

/// A literal constant.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A signed 64-bit integer (`42`, `0x2A`).
    Int(i64),
    /// An unsigned 64-bit integer (`42u`).
    Uint(u64),
    /// A double (`1.5`, `1e3`).
    Double(f64),
    /// A string (any quoting style, escapes resolved).
    String(String),
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// Logical not `!`.
    Not,
    /// Arithmetic negation `-`.
    Neg,
}

/// Binary operators (logical operators are short-circuiting with CEL's error absorption).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `||`
    Or,
    /// `&&`
    And,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `in`
    In,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
}

/// The comprehension macros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacroKind {
    /// `all(x, p)`
    All,
    /// `exists(x, p)`
    Exists,
    /// `exists_one(x, p)`
    ExistsOne,
    /// `filter(x, p)`
    Filter,
    /// `map(x, t)` or `map(x, p, t)`
    Map,
}

impl MacroKind {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "all" => Self::All,
            "exists" => Self::Exists,
            "exists_one" => Self::ExistsOne,
            "filter" => Self::Filter,
            "map" => Self::Map,
            _ => return None,
        })
    }
}

/// A CEL expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A literal.
    Literal(Literal),
    /// A variable reference (`self`, `oldSelf`, a macro's iteration variable).
    Ident(String),
    /// Field selection `operand.field`.
    Select {
        /// The object or map selected from.
        operand: Box<Expr>,
        /// The field name.
        field: String,
    },
    /// The `has(operand.field)` presence test.
    Has {
        /// The object or map tested.
        operand: Box<Expr>,
        /// The field name.
        field: String,
    },
    /// Indexing `operand[index]`.
    Index {
        /// The list or map.
        operand: Box<Expr>,
        /// The index or key.
        index: Box<Expr>,
    },
    /// A function call, global (`size(x)`) or receiver-style (`x.size()`).
    Call {
        /// The receiver, for receiver-style calls.
        target: Option<Box<Expr>>,
        /// The function name.
        function: String,
        /// The arguments.
        args: Vec<Expr>,
        /// The regex argument, compiled at parse time when it is a literal (`matches`, `find`, `findAll`).
        regex: Option<Regex>,
    },
    /// A comprehension macro `target.all(var, ...)`.
    Macro {
        /// The list or map iterated.
        target: Box<Expr>,
        /// Which macro.
        kind: MacroKind,
        /// The iteration variable.
        var: String,
        /// One expression (predicate or transform) or, for the 3-argument `map`, predicate then transform.
        args: Vec<Expr>,
    },
    /// A list literal.
    List(Vec<Expr>),
    /// A map literal.
    Map(Vec<(Expr, Expr)>),
    /// A unary operation.
    Unary(UnaryOp, Box<Expr>),
    /// A binary operation.
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// The conditional `cond ? then : otherwise`.
    Conditional(Box<Expr>, Box<Expr>, Box<Expr>),
}

impl Expr {
    /// Calls `f` on every identifier that refers to a variable not bound by an enclosing macro.
    pub(crate) fn free_variables<'a>(
        &'a self,
        bound: &mut Vec<&'a str>,
        f: &mut dyn FnMut(&'a str),
    ) {
        match self {
            Expr::Literal(_) => {}
            Expr::Ident(name) => {
                if !bound.iter().any(|b| b == name) {
                    f(name)
                }
            }
            Expr::Select { operand, .. } | Expr::Has { operand, .. } => {
                operand.free_variables(bound, f)
            }
            Expr::Index { operand, index } => {
                operand.free_variables(bound, f);
                index.free_variables(bound, f);
            }
            Expr::Call { target, args, .. } => {
                if let Some(t) = target {
                    t.free_variables(bound, f);
                }
                for a in args {
                    a.free_variables(bound, f);
                }
            }
            Expr::Macro {
                target, var, args, ..
            } => {
                target.free_variables(bound, f);
                bound.push(var);
                for a in args {
                    a.free_variables(bound, f);
                }
                bound.pop();
            }
            Expr::List(items) => {
                for i in items {
                    i.free_variables(bound, f);
                }
            }
            Expr::Map(entries) => {
                for (k, v) in entries {
                    k.free_variables(bound, f);
                    v.free_variables(bound, f);
                }
            }
            Expr::Unary(_, e) => e.free_variables(bound, f),
            Expr::Binary(_, a, b) => {
                a.free_variables(bound, f);
                b.free_variables(bound, f);
            }
            Expr::Conditional(a, b, c) => {
                a.free_variables(bound, f);
                b.free_variables(bound, f);
                c.free_variables(bound, f);
            }
        }
    }
}
