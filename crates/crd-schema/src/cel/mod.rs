//! A small CEL (Common Expression Language) parser and evaluator covering the subset that Kubernetes
//! `x-kubernetes-validations` rules in the Karpenter CRDs use: literals, `self`/`oldSelf`, field selection,
//! indexing, `has()`, `size()`, `in`, comparisons, `&&`/`||`/`!`, `?:`, the macros `all`, `exists`,
//! `exists_one`, `filter`, `map`, the string functions of the Kubernetes strings/regex extensions
//! (`startsWith`, `endsWith`, `contains`, `matches`, `find`, `findAll`, `split`, `lowerAscii`, ...) and the
//! conversions `int()`, `uint()`, `double()`, `string()`.
//!
//! Evaluation follows CEL's error semantics: an error (such as `no such key`) is a value that `false && err`,
//! `true || err`, a failing `all` or a succeeding `exists` absorb; otherwise it is returned as [`EvalError`].

pub mod ast;
mod eval;
mod parse;

use std::fmt;

use serde_json::Value as Json;

pub use ast::Expr;

/// A CEL syntax error, with the byte offset in the source where it was detected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("syntax error at offset {position}: {message}")]
pub struct ParseError {
    /// Byte offset in the expression.
    pub position: usize,
    /// What is wrong.
    pub message: String,
}

/// A CEL runtime error (for example `no such key: values` or `index out of bounds`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

/// A CEL result value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`
    Null,
    /// A bool.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    Uint(u64),
    /// A double.
    Double(f64),
    /// A string.
    String(String),
    /// A list.
    List(Vec<Value>),
    /// A map (entries in insertion order).
    Map(Vec<(Value, Value)>),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => write!(f, "null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Uint(u) => write!(f, "{u}u"),
            Value::Double(d) => write!(f, "{d}"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::List(items) => {
                write!(f, "[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{v}")?;
                }
                write!(f, "]")
            }
            Value::Map(entries) => {
                write!(f, "{{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                write!(f, "}}")
            }
        }
    }
}

/// A parsed CEL expression, ready to evaluate against `self` (and optionally `oldSelf`).
#[derive(Debug, Clone)]
pub struct Program {
    source: String,
    expr: Expr,
    uses_old_self: bool,
}

impl Program {
    /// Parses `source`. Fails on syntax errors, unsupported functions, invalid literal regular expressions and
    /// references to variables other than `self`, `oldSelf` and macro variables.
    pub fn parse(source: &str) -> Result<Self, ParseError> {
        let expr = parse::Parser::parse(source)?;
        let mut unknown = None;
        let mut uses_old_self = false;
        expr.free_variables(&mut Vec::new(), &mut |name| match name {
            "self" => {}
            "oldSelf" => uses_old_self = true,
            other => {
                unknown.get_or_insert_with(|| other.to_string());
            }
        });
        if let Some(name) = unknown {
            return Err(ParseError {
                position: 0,
                message: format!("undeclared reference to '{name}'"),
            });
        }
        Ok(Program {
            source: source.to_string(),
            expr,
            uses_old_self,
        })
    }

    /// The expression text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The syntax tree.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// Whether the rule references `oldSelf` (a transition rule, evaluated only on update).
    pub fn is_transition_rule(&self) -> bool {
        self.uses_old_self
    }

    /// Evaluates with `self` bound to `self_value` and, when given, `oldSelf` bound to `old_self`.
    pub fn evaluate(&self, self_value: &Json, old_self: Option<&Json>) -> Result<Value, EvalError> {
        let mut env = eval::Env::new(self_value, old_self);
        eval::eval(&self.expr, &mut env).map(|v| v.to_value())
    }

    /// Evaluates a validation rule, which must produce a bool.
    pub fn evaluate_bool(
        &self,
        self_value: &Json,
        old_self: Option<&Json>,
    ) -> Result<bool, EvalError> {
        match self.evaluate(self_value, old_self)? {
            Value::Bool(b) => Ok(b),
            other => Err(EvalError(format!("rule evaluated to {other}, not a bool"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(src: &str, self_value: Json) -> Result<Value, EvalError> {
        Program::parse(src)
            .unwrap_or_else(|e| panic!("{src}: {e}"))
            .evaluate(&self_value, None)
    }

    fn truth(src: &str, self_value: Json) -> bool {
        match eval(src, self_value) {
            Ok(Value::Bool(b)) => b,
            other => panic!("{src}: {other:?}"),
        }
    }

    #[test]
    fn literals_and_operators() {
        assert_eq!(eval("1 + 2 * 3", json!(null)), Ok(Value::Int(7)));
        assert_eq!(
            eval("-9223372036854775808", json!(null)),
            Ok(Value::Int(i64::MIN))
        );
        assert_eq!(
            eval("'a' + \"b\"", json!(null)),
            Ok(Value::String("ab".into()))
        );
        assert_eq!(
            eval(r"'\x41\u00e9\n'", json!(null)),
            Ok(Value::String("Aé\n".into()))
        );
        assert_eq!(eval(r"r'\d'", json!(null)), Ok(Value::String("\\d".into())));
        assert_eq!(
            eval("'''it's'''", json!(null)),
            Ok(Value::String("it's".into()))
        );
        assert_eq!(
            eval("[1, 2,]", json!(null)),
            Ok(Value::List(vec![Value::Int(1), Value::Int(2)]))
        );
        assert!(truth(
            "1 == 1.0 && 2u > 1 && 'a' < 'b' && !(1 >= 2)",
            json!(null)
        ));
        assert!(truth("true ? 1 == 1 : 1 / 0 == 0", json!(null)));
        assert_eq!(
            eval("1 / 0", json!(null)),
            Err(EvalError("division by zero".into()))
        );
        assert!(eval("9223372036854775807 + 1", json!(null)).is_err());
    }

    #[test]
    fn error_absorption_in_logical_operators() {
        assert!(!truth("self.missing == 1 && false", json!({})));
        assert!(truth("self.missing == 1 || true", json!({})));
        assert!(eval("self.missing == 1 && true", json!({})).is_err());
        assert_eq!(
            eval("self.missing", json!({})),
            Err(EvalError("no such key: missing".into()))
        );
    }

    #[test]
    fn macros() {
        let v = json!([{"a": 1}, {"a": 2}, {"b": 3}]);
        assert!(
            !truth("self.all(x, x.a > 1)", v.clone()),
            "a false element absorbs the error of the third"
        );
        assert!(
            eval("self.all(x, x.a > 0)", v.clone()).is_err(),
            "no false element: the error surfaces"
        );
        assert!(truth("self.exists(x, x.a == 2)", v.clone()));
        assert!(truth("self.exists_one(x, has(x.b))", v.clone()));
        assert!(eval("self.exists_one(x, x.a == 1)", v.clone()).is_err());
        assert_eq!(
            eval("self.filter(x, has(x.a)).map(x, x.a)", v.clone()),
            Ok(Value::List(vec![Value::Int(1), Value::Int(2)]))
        );
        assert_eq!(
            eval("self.map(x, has(x.a), x.a * 10)", v),
            Ok(Value::List(vec![Value::Int(10), Value::Int(20)]))
        );
        assert!(truth(
            "self.all(k, k != '' && self[k] != '')",
            json!({"a": "b"})
        ));
        assert!(!truth(
            "self.all(k, k != '' && self[k] != '')",
            json!({"a": ""})
        ));
        assert!(truth("'a' in self && !('c' in self)", json!({"a": 1})));
        assert!(truth(
            "[1, 2].all(x, [1, 2, 3].exists(y, y == x))",
            json!(null)
        ));
    }

    #[test]
    fn string_functions() {
        assert_eq!(
            eval(r#"self.find("^([^/]+)")"#, json!("karpenter.sh/nodepool")),
            Ok(Value::String("karpenter.sh".into()))
        );
        assert_eq!(
            eval(r#"self.find("^z")"#, json!("abc")),
            Ok(Value::String(String::new()))
        );
        assert_eq!(
            eval("self.split('@')", json!("al2023@latest")),
            Ok(Value::List(vec![
                Value::String("al2023".into()),
                Value::String("latest".into())
            ]))
        );
        assert_eq!(
            eval("self.split('@', 1)", json!("a@b@c")),
            Ok(Value::List(vec![Value::String("a@b@c".into())]))
        );
        assert!(eval("self.split('@')[1]", json!("al2023")).is_err());
        assert!(truth(
            "self.matches('^[a-zA-Z0-9]+@.+$')",
            json!("al2023@v20240807")
        ));
        assert!(truth("matches(self, 'ab')", json!("xaby")));
        assert!(truth(
            "self.lowerAscii() == 'abc' && self.size() == 3 && size(self) == 3",
            json!("AbC")
        ));
        assert!(truth(
            "self.startsWith('kube') && self.endsWith('x') && self.contains('bel')",
            json!("kubelet-x")
        ));
        assert_eq!(eval("int(self[0])", json!(["42"])), Ok(Value::Int(42)));
        assert!(eval("int(self[0])", json!(["4x"])).is_err());
        assert_eq!(
            eval("string(7) + string(true)", json!(null)),
            Ok(Value::String("7true".into()))
        );
        assert_eq!(
            eval("['a', 'b'].join('-')", json!(null)),
            Ok(Value::String("a-b".into()))
        );
    }

    #[test]
    fn parse_errors() {
        for bad in [
            "self.",
            "self.all(x)",
            "has(self)",
            "foo(1)",
            "self.nosuch()",
            "1 +",
            "other == 1",
            "self.matches('(')",
            "'abc",
        ] {
            assert!(Program::parse(bad).is_err(), "{bad} should not parse");
        }
        assert!(Program::parse("self == oldSelf")
            .unwrap()
            .is_transition_rule());
        assert!(!Program::parse("self.all(x, x == 1)")
            .unwrap()
            .is_transition_rule());
    }
}
