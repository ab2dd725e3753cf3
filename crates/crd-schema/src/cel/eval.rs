//! Evaluator for the CEL subset over JSON values, with CEL's error semantics (errors are values that `&&`, `||`
//! and the `all`/`exists` macros may absorb).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::rc::Rc;

use serde_json::Value as Json;

use super::ast::{BinaryOp, Expr, Literal, MacroKind, UnaryOp};
use super::{EvalError, Value};

/// Upper bound on comprehension iterations per evaluation (guards against pathological inputs).
const MAX_ITERATIONS: usize = 1_000_000;

#[derive(Debug, Clone)]
pub(crate) enum Val<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Double(f64),
    Str(Cow<'a, str>),
    JsonList(&'a [Json]),
    List(Rc<Vec<Val<'a>>>),
    JsonMap(&'a serde_json::Map<String, Json>),
    Map(Rc<Vec<(Val<'a>, Val<'a>)>>),
}

type R<'a> = Result<Val<'a>, EvalError>;

fn err<T>(msg: impl Into<String>) -> Result<T, EvalError> {
    Err(EvalError(msg.into()))
}

impl<'a> Val<'a> {
    pub(crate) fn from_json(v: &'a Json) -> Val<'a> {
        match v {
            Json::Null => Val::Null,
            Json::Bool(b) => Val::Bool(*b),
            Json::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Val::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Val::Uint(u)
                } else {
                    Val::Double(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Json::String(s) => Val::Str(Cow::Borrowed(s)),
            Json::Array(a) => Val::JsonList(a),
            Json::Object(m) => Val::JsonMap(m),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Val::Null => "null_type",
            Val::Bool(_) => "bool",
            Val::Int(_) => "int",
            Val::Uint(_) => "uint",
            Val::Double(_) => "double",
            Val::Str(_) => "string",
            Val::JsonList(_) | Val::List(_) => "list",
            Val::JsonMap(_) | Val::Map(_) => "map",
        }
    }

    fn list_len(&self) -> Option<usize> {
        match self {
            Val::JsonList(l) => Some(l.len()),
            Val::List(l) => Some(l.len()),
            _ => None,
        }
    }

    fn list_get(&self, i: usize) -> Option<Val<'a>> {
        match self {
            Val::JsonList(l) => l.get(i).map(Val::from_json),
            Val::List(l) => l.get(i).cloned(),
            _ => None,
        }
    }

    /// Elements of a list, or keys of a map (what comprehensions iterate over).
    fn iter_range(&self) -> Result<Vec<Val<'a>>, EvalError> {
        match self {
            Val::JsonList(l) => Ok(l.iter().map(Val::from_json).collect()),
            Val::List(l) => Ok(l.as_ref().clone()),
            Val::JsonMap(m) => Ok(m
                .keys()
                .map(|k| Val::Str(Cow::Borrowed(k.as_str())))
                .collect()),
            Val::Map(m) => Ok(m.iter().map(|(k, _)| k.clone()).collect()),
            other => err(format!(
                "cannot iterate over a value of type {}",
                other.type_name()
            )),
        }
    }

    fn map_get(&self, key: &Val<'_>) -> Result<Option<Val<'a>>, EvalError> {
        match self {
            Val::JsonMap(m) => match key {
                Val::Str(k) => Ok(m.get(k.as_ref()).map(Val::from_json)),
                _ => Ok(None),
            },
            Val::Map(m) => Ok(m
                .iter()
                .find(|(k, _)| equals(k, key))
                .map(|(_, v)| v.clone())),
            other => err(format!(
                "no such overload: cannot look up keys in a value of type {}",
                other.type_name()
            )),
        }
    }

    pub(crate) fn to_value(&self) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Bool(b) => Value::Bool(*b),
            Val::Int(i) => Value::Int(*i),
            Val::Uint(u) => Value::Uint(*u),
            Val::Double(d) => Value::Double(*d),
            Val::Str(s) => Value::String(s.to_string()),
            Val::JsonList(_) | Val::List(_) => {
                let n = self.list_len().unwrap_or(0);
                Value::List(
                    (0..n)
                        .filter_map(|i| self.list_get(i))
                        .map(|v| v.to_value())
                        .collect(),
                )
            }
            Val::JsonMap(m) => Value::Map(
                m.iter()
                    .map(|(k, v)| (Value::String(k.clone()), Val::from_json(v).to_value()))
                    .collect(),
            ),
            Val::Map(m) => Value::Map(
                m.iter()
                    .map(|(k, v)| (k.to_value(), v.to_value()))
                    .collect(),
            ),
        }
    }
}

fn as_f64(v: &Val) -> Option<f64> {
    match v {
        Val::Int(i) => Some(*i as f64),
        Val::Uint(u) => Some(*u as f64),
        Val::Double(d) => Some(*d),
        _ => None,
    }
}

/// Numeric comparison across int/uint/double (CEL's heterogeneous numeric ordering).
fn compare_numbers(a: &Val, b: &Val) -> Option<Ordering> {
    match (a, b) {
        (Val::Int(x), Val::Int(y)) => Some(x.cmp(y)),
        (Val::Uint(x), Val::Uint(y)) => Some(x.cmp(y)),
        (Val::Int(x), Val::Uint(y)) => Some(if *x < 0 {
            Ordering::Less
        } else {
            (*x as u64).cmp(y)
        }),
        (Val::Uint(x), Val::Int(y)) => Some(if *y < 0 {
            Ordering::Greater
        } else {
            x.cmp(&(*y as u64))
        }),
        _ => as_f64(a)?.partial_cmp(&as_f64(b)?),
    }
}

pub(crate) fn equals(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Null, Val::Null) => true,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Str(x), Val::Str(y)) => x == y,
        _ if as_f64(a).is_some() && as_f64(b).is_some() => {
            compare_numbers(a, b) == Some(Ordering::Equal)
        }
        _ if a.list_len().is_some() && b.list_len().is_some() => {
            let n = a.list_len().unwrap_or(0);
            n == b.list_len().unwrap_or(0)
                && (0..n).all(|i| match (a.list_get(i), b.list_get(i)) {
                    (Some(x), Some(y)) => equals(&x, &y),
                    _ => false,
                })
        }
        (Val::JsonMap(_) | Val::Map(_), Val::JsonMap(_) | Val::Map(_)) => {
            let (Ok(ka), Ok(kb)) = (a.iter_range(), b.iter_range()) else {
                return false;
            };
            ka.len() == kb.len()
                && ka.iter().all(|k| match (a.map_get(k), b.map_get(k)) {
                    (Ok(Some(x)), Ok(Some(y))) => equals(&x, &y),
                    _ => false,
                })
        }
        _ => false,
    }
}

/// Variables in scope: `self`, `oldSelf` and comprehension variables (innermost last).
pub(crate) struct Env<'a> {
    vars: Vec<(Cow<'a, str>, Val<'a>)>,
    iterations: usize,
}

impl<'a> Env<'a> {
    pub(crate) fn new(self_val: &'a Json, old_self: Option<&'a Json>) -> Self {
        let mut vars = vec![(Cow::Borrowed("self"), Val::from_json(self_val))];
        if let Some(old) = old_self {
            vars.push((Cow::Borrowed("oldSelf"), Val::from_json(old)));
        }
        Env {
            vars,
            iterations: 0,
        }
    }

    fn lookup(&self, name: &str) -> R<'a> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => err(format!("undeclared reference to '{name}'")),
        }
    }
}

fn as_bool(v: R<'_>, what: &str) -> Result<bool, EvalError> {
    match v? {
        Val::Bool(b) => Ok(b),
        other => err(format!("{what} must be a bool, got {}", other.type_name())),
    }
}

pub(crate) fn eval<'a>(e: &Expr, env: &mut Env<'a>) -> R<'a> {
    match e {
        Expr::Literal(l) => Ok(match l {
            Literal::Null => Val::Null,
            Literal::Bool(b) => Val::Bool(*b),
            Literal::Int(i) => Val::Int(*i),
            Literal::Uint(u) => Val::Uint(*u),
            Literal::Double(d) => Val::Double(*d),
            Literal::String(s) => Val::Str(Cow::Owned(s.clone())),
        }),
        Expr::Ident(name) => env.lookup(name),
        Expr::Select { operand, field } => {
            let obj = eval(operand, env)?;
            match obj {
                Val::JsonMap(_) | Val::Map(_) => {
                    match obj.map_get(&Val::Str(Cow::Borrowed(field)))? {
                        Some(v) => Ok(v),
                        None => err(format!("no such key: {field}")),
                    }
                }
                other => err(format!(
                    "cannot select field '{field}' from a value of type {}",
                    other.type_name()
                )),
            }
        }
        Expr::Has { operand, field } => {
            let obj = eval(operand, env)?;
            match obj {
                Val::JsonMap(_) | Val::Map(_) => Ok(Val::Bool(
                    obj.map_get(&Val::Str(Cow::Borrowed(field)))?.is_some(),
                )),
                other => err(format!("invalid type for has(): {}", other.type_name())),
            }
        }
        Expr::Index { operand, index } => {
            let obj = eval(operand, env)?;
            let idx = eval(index, env)?;
            index_value(&obj, &idx)
        }
        Expr::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for i in items {
                out.push(eval(i, env)?);
            }
            Ok(Val::List(Rc::new(out)))
        }
        Expr::Map(entries) => {
            let mut out: Vec<(Val<'a>, Val<'a>)> = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                let k = eval(k, env)?;
                if !matches!(k, Val::Str(_) | Val::Int(_) | Val::Uint(_) | Val::Bool(_)) {
                    return err(format!("unsupported map key type {}", k.type_name()));
                }
                if out.iter().any(|(existing, _)| equals(existing, &k)) {
                    return err("duplicate key in map literal");
                }
                let v = eval(v, env)?;
                out.push((k, v));
            }
            Ok(Val::Map(Rc::new(out)))
        }
        Expr::Unary(op, operand) => {
            let v = eval(operand, env)?;
            match (op, v) {
                (UnaryOp::Not, Val::Bool(b)) => Ok(Val::Bool(!b)),
                (UnaryOp::Neg, Val::Int(i)) => i
                    .checked_neg()
                    .map(Val::Int)
                    .ok_or_else(|| EvalError("integer overflow".into())),
                (UnaryOp::Neg, Val::Double(d)) => Ok(Val::Double(-d)),
                (op, v) => err(format!("no such overload: {op:?} on {}", v.type_name())),
            }
        }
        Expr::Binary(BinaryOp::And, a, b) => {
            let l = as_bool(eval(a, env), "operand of &&");
            if matches!(l, Ok(false)) {
                return Ok(Val::Bool(false));
            }
            let r = as_bool(eval(b, env), "operand of &&");
            match (l, r) {
                (_, Ok(false)) => Ok(Val::Bool(false)),
                (Ok(true), Ok(true)) => Ok(Val::Bool(true)),
                (Err(e), _) | (_, Err(e)) => Err(e),
                _ => Ok(Val::Bool(false)),
            }
        }
        Expr::Binary(BinaryOp::Or, a, b) => {
            let l = as_bool(eval(a, env), "operand of ||");
            if matches!(l, Ok(true)) {
                return Ok(Val::Bool(true));
            }
            let r = as_bool(eval(b, env), "operand of ||");
            match (l, r) {
                (_, Ok(true)) => Ok(Val::Bool(true)),
                (Ok(false), Ok(false)) => Ok(Val::Bool(false)),
                (Err(e), _) | (_, Err(e)) => Err(e),
                _ => Ok(Val::Bool(true)),
            }
        }
        Expr::Binary(op, a, b) => {
            let l = eval(a, env)?;
            let r = eval(b, env)?;
            binary(*op, &l, &r)
        }
        Expr::Conditional(c, t, f) => {
            if as_bool(eval(c, env), "condition of ?:")? {
                eval(t, env)
            } else {
                eval(f, env)
            }
        }
        Expr::Macro {
            target,
            kind,
            var,
            args,
        } => {
            let range = eval(target, env)?.iter_range()?;
            comprehension(*kind, var, args, range, env)
        }
        Expr::Call {
            target,
            function,
            args,
            regex,
        } => {
            let recv = match target {
                Some(t) => Some(eval(t, env)?),
                None => None,
            };
            let mut argv = Vec::with_capacity(args.len());
            for a in args {
                argv.push(eval(a, env)?);
            }
            call(function, recv, argv, regex.as_ref())
        }
    }
}

fn comprehension<'a>(
    kind: MacroKind,
    var: &str,
    args: &[Expr],
    range: Vec<Val<'a>>,
    env: &mut Env<'a>,
) -> R<'a> {
    let mut first_err: Option<EvalError> = None;
    let mut count = 0usize;
    let mut out = Vec::new();
    for item in range {
        env.iterations += 1;
        if env.iterations > MAX_ITERATIONS {
            return err("evaluation exceeded the iteration budget");
        }
        env.vars.push((Cow::Owned(var.to_string()), item.clone()));
        let result = (|| -> Result<Option<bool>, EvalError> {
            match kind {
                MacroKind::All | MacroKind::Exists | MacroKind::ExistsOne => {
                    Ok(Some(as_bool(eval(&args[0], env), "predicate")?))
                }
                MacroKind::Filter => {
                    if as_bool(eval(&args[0], env), "filter predicate")? {
                        out.push(item.clone());
                    }
                    Ok(None)
                }
                MacroKind::Map => {
                    if args.len() == 2 {
                        if as_bool(eval(&args[0], env), "map predicate")? {
                            out.push(eval(&args[1], env)?);
                        }
                    } else {
                        out.push(eval(&args[0], env)?);
                    }
                    Ok(None)
                }
            }
        })();
        env.vars.pop();
        match (kind, result) {
            (MacroKind::All, Ok(Some(false))) => return Ok(Val::Bool(false)),
            (MacroKind::Exists, Ok(Some(true))) => return Ok(Val::Bool(true)),
            (MacroKind::ExistsOne, Ok(Some(true))) => count += 1,
            (MacroKind::All | MacroKind::Exists, Err(e)) => {
                first_err.get_or_insert(e);
            }
            (MacroKind::ExistsOne | MacroKind::Filter | MacroKind::Map, Err(e)) => return Err(e),
            _ => {}
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    Ok(match kind {
        MacroKind::All => Val::Bool(true),
        MacroKind::Exists => Val::Bool(false),
        MacroKind::ExistsOne => Val::Bool(count == 1),
        MacroKind::Filter | MacroKind::Map => Val::List(Rc::new(out)),
    })
}

fn index_value<'a>(obj: &Val<'a>, idx: &Val<'a>) -> R<'a> {
    if let Some(len) = obj.list_len() {
        let i: i64 = match idx {
            Val::Int(i) => *i,
            Val::Uint(u) => i64::try_from(*u).unwrap_or(i64::MAX),
            Val::Double(d) if d.fract() == 0.0 => *d as i64,
            other => {
                return err(format!(
                    "no such overload: list index of type {}",
                    other.type_name()
                ))
            }
        };
        return match usize::try_from(i).ok().and_then(|i| obj.list_get(i)) {
            Some(v) => Ok(v),
            None => err(format!("index out of bounds: {i} (list size {len})")),
        };
    }
    match obj {
        Val::JsonMap(_) | Val::Map(_) => match obj.map_get(idx)? {
            Some(v) => Ok(v),
            None => err(format!("no such key: {}", display(idx))),
        },
        other => err(format!(
            "no such overload: cannot index a value of type {}",
            other.type_name()
        )),
    }
}

fn display(v: &Val) -> String {
    match v {
        Val::Str(s) => s.to_string(),
        other => other.to_value().to_string(),
    }
}

fn binary<'a>(op: BinaryOp, l: &Val<'a>, r: &Val<'a>) -> R<'a> {
    let overload = || {
        err(format!(
            "no such overload: {} {:?} {}",
            l.type_name(),
            op,
            r.type_name()
        ))
    };
    match op {
        BinaryOp::Eq => Ok(Val::Bool(equals(l, r))),
        BinaryOp::Ne => Ok(Val::Bool(!equals(l, r))),
        BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            let ord = match (l, r) {
                (Val::Str(a), Val::Str(b)) => Some(a.cmp(b)),
                (Val::Bool(a), Val::Bool(b)) => Some(a.cmp(b)),
                _ if as_f64(l).is_some() && as_f64(r).is_some() => compare_numbers(l, r),
                _ => return overload(),
            };
            let Some(ord) = ord else {
                return Ok(Val::Bool(false)); // NaN compares false
            };
            Ok(Val::Bool(match op {
                BinaryOp::Lt => ord == Ordering::Less,
                BinaryOp::Le => ord != Ordering::Greater,
                BinaryOp::Gt => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            }))
        }
        BinaryOp::In => {
            if let Some(n) = r.list_len() {
                return Ok(Val::Bool(
                    (0..n).any(|i| r.list_get(i).is_some_and(|x| equals(&x, l))),
                ));
            }
            match r {
                Val::JsonMap(_) | Val::Map(_) => Ok(Val::Bool(r.map_get(l)?.is_some())),
                _ => overload(),
            }
        }
        BinaryOp::Add => match (l, r) {
            (Val::Int(a), Val::Int(b)) => a
                .checked_add(*b)
                .map(Val::Int)
                .ok_or_else(|| EvalError("integer overflow".into())),
            (Val::Uint(a), Val::Uint(b)) => a
                .checked_add(*b)
                .map(Val::Uint)
                .ok_or_else(|| EvalError("unsigned integer overflow".into())),
            (Val::Double(a), Val::Double(b)) => Ok(Val::Double(a + b)),
            (Val::Str(a), Val::Str(b)) => Ok(Val::Str(Cow::Owned(format!("{a}{b}")))),
            _ if l.list_len().is_some() && r.list_len().is_some() => {
                let mut out: Vec<Val<'a>> = Vec::new();
                for v in [l, r] {
                    for i in 0..v.list_len().unwrap_or(0) {
                        out.extend(v.list_get(i));
                    }
                }
                Ok(Val::List(Rc::new(out)))
            }
            _ => overload(),
        },
        BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => match (l, r) {
            (Val::Int(a), Val::Int(b)) => {
                let v = match op {
                    BinaryOp::Sub => a.checked_sub(*b),
                    BinaryOp::Mul => a.checked_mul(*b),
                    BinaryOp::Div if *b == 0 => return err("division by zero"),
                    BinaryOp::Div => a.checked_div(*b),
                    _ if *b == 0 => return err("modulus by zero"),
                    _ => a.checked_rem(*b),
                };
                v.map(Val::Int)
                    .ok_or_else(|| EvalError("integer overflow".into()))
            }
            (Val::Uint(a), Val::Uint(b)) => {
                let v = match op {
                    BinaryOp::Sub => a.checked_sub(*b),
                    BinaryOp::Mul => a.checked_mul(*b),
                    BinaryOp::Div if *b == 0 => return err("division by zero"),
                    BinaryOp::Div => a.checked_div(*b),
                    _ if *b == 0 => return err("modulus by zero"),
                    _ => a.checked_rem(*b),
                };
                v.map(Val::Uint)
                    .ok_or_else(|| EvalError("unsigned integer overflow".into()))
            }
            (Val::Double(a), Val::Double(b)) => Ok(Val::Double(match op {
                BinaryOp::Sub => a - b,
                BinaryOp::Mul => a * b,
                BinaryOp::Div => a / b,
                _ => return overload(),
            })),
            _ => overload(),
        },
        BinaryOp::And | BinaryOp::Or => unreachable_logical(),
    }
}

/// `&&`/`||` are handled in `eval` (they need lazy evaluation); reaching `binary` with them is an internal error
/// that is reported rather than panicking.
fn unreachable_logical<'a>() -> R<'a> {
    err("internal error: logical operator evaluated eagerly")
}

fn str_arg<'b>(v: &'b Val, function: &str) -> Result<&'b str, EvalError> {
    match v {
        Val::Str(s) => Ok(s),
        other => err(format!(
            "no such overload: {function} with argument of type {}",
            other.type_name()
        )),
    }
}

fn int_arg(v: &Val, function: &str) -> Result<i64, EvalError> {
    match v {
        Val::Int(i) => Ok(*i),
        other => err(format!(
            "no such overload: {function} with argument of type {}",
            other.type_name()
        )),
    }
}

/// The regex compiled at parse time for a literal pattern, or `pattern` compiled now.
fn regex_for<'r>(
    pattern: &str,
    precompiled: Option<&'r regex::Regex>,
) -> Result<Cow<'r, regex::Regex>, EvalError> {
    match precompiled {
        Some(r) => Ok(Cow::Borrowed(r)),
        None => crate::re2::compile(pattern)
            .map(Cow::Owned)
            .map_err(|e| EvalError(format!("invalid regular expression {pattern:?}: {e}"))),
    }
}

fn call<'a>(
    function: &str,
    recv: Option<Val<'a>>,
    args: Vec<Val<'a>>,
    regex: Option<&regex::Regex>,
) -> R<'a> {
    // Normalise global calls with a receiver-like first argument.
    let (recv, args) = match recv {
        Some(r) => (r, args),
        None => {
            let mut it = args.into_iter();
            match it.next() {
                Some(first) => (first, it.collect::<Vec<_>>()),
                None => return err(format!("function '{function}' needs an argument")),
            }
        }
    };
    match function {
        "size" => match &recv {
            Val::Str(s) => Ok(Val::Int(s.chars().count() as i64)),
            Val::JsonMap(m) => Ok(Val::Int(m.len() as i64)),
            Val::Map(m) => Ok(Val::Int(m.len() as i64)),
            other => match other.list_len() {
                Some(n) => Ok(Val::Int(n as i64)),
                None => err(format!("no such overload: size on {}", other.type_name())),
            },
        },
        "int" => match &recv {
            Val::Int(i) => Ok(Val::Int(*i)),
            Val::Uint(u) => i64::try_from(*u)
                .map(Val::Int)
                .map_err(|_| EvalError("int() range error".into())),
            Val::Double(d)
                if d.is_finite()
                    && *d > -9.223_372_036_854_776e18
                    && *d < 9.223_372_036_854_776e18 =>
            {
                Ok(Val::Int(d.trunc() as i64))
            }
            Val::Double(_) => err("int() range error"),
            Val::Str(s) => s
                .parse::<i64>()
                .map(Val::Int)
                .map_err(|_| EvalError(format!("cannot convert {s:?} to int"))),
            other => err(format!("no such overload: int({})", other.type_name())),
        },
        "uint" => match &recv {
            Val::Uint(u) => Ok(Val::Uint(*u)),
            Val::Int(i) => u64::try_from(*i)
                .map(Val::Uint)
                .map_err(|_| EvalError("uint() range error".into())),
            Val::Double(d) if d.is_finite() && *d >= 0.0 && *d < 1.844_674_407_370_955_2e19 => {
                Ok(Val::Uint(d.trunc() as u64))
            }
            Val::Double(_) => err("uint() range error"),
            Val::Str(s) => s
                .parse::<u64>()
                .map(Val::Uint)
                .map_err(|_| EvalError(format!("cannot convert {s:?} to uint"))),
            other => err(format!("no such overload: uint({})", other.type_name())),
        },
        "double" => match &recv {
            Val::Str(s) => s
                .parse::<f64>()
                .map(Val::Double)
                .map_err(|_| EvalError(format!("cannot convert {s:?} to double"))),
            other => as_f64(other).map(Val::Double).ok_or_else(|| {
                EvalError(format!("no such overload: double({})", other.type_name()))
            }),
        },
        "string" => Ok(Val::Str(Cow::Owned(match &recv {
            Val::Str(s) => s.to_string(),
            Val::Bool(b) => b.to_string(),
            Val::Int(i) => i.to_string(),
            Val::Uint(u) => u.to_string(),
            Val::Double(d) => d.to_string(),
            other => return err(format!("no such overload: string({})", other.type_name())),
        }))),
        "bool" => match &recv {
            Val::Bool(b) => Ok(Val::Bool(*b)),
            Val::Str(s) => match s.as_ref() {
                "true" | "True" | "TRUE" | "t" | "1" => Ok(Val::Bool(true)),
                "false" | "False" | "FALSE" | "f" | "0" => Ok(Val::Bool(false)),
                _ => err(format!("cannot convert {s:?} to bool")),
            },
            other => err(format!("no such overload: bool({})", other.type_name())),
        },
        "startsWith" | "endsWith" | "contains" => {
            let s = str_arg(&recv, function)?;
            let arg = str_arg(&args[0], function)?;
            Ok(Val::Bool(match function {
                "startsWith" => s.starts_with(arg),
                "endsWith" => s.ends_with(arg),
                _ => s.contains(arg),
            }))
        }
        "matches" => {
            let s = str_arg(&recv, function)?;
            let re = regex_for(str_arg(&args[0], function)?, regex)?;
            Ok(Val::Bool(re.is_match(s)))
        }
        "find" => {
            let s = str_arg(&recv, function)?;
            let re = regex_for(str_arg(&args[0], function)?, regex)?;
            Ok(Val::Str(Cow::Owned(
                re.find(s)
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_default(),
            )))
        }
        "findAll" => {
            let s = str_arg(&recv, function)?;
            let re = regex_for(str_arg(&args[0], function)?, regex)?;
            let limit = match args.get(1) {
                Some(n) => int_arg(n, function)?,
                None => -1,
            };
            let found = re
                .find_iter(s)
                .map(|m| Val::Str(Cow::Owned(m.as_str().to_string())));
            let found: Vec<Val<'a>> = if limit < 0 {
                found.collect()
            } else {
                found.take(limit as usize).collect()
            };
            Ok(Val::List(Rc::new(found)))
        }
        "split" => {
            let s = str_arg(&recv, function)?;
            let sep = str_arg(&args[0], function)?;
            let limit = match args.get(1) {
                Some(n) => int_arg(n, function)?,
                None => -1,
            };
            let parts: Vec<String> = match limit {
                0 => Vec::new(),
                n if n < 0 => go_split(s, sep, usize::MAX),
                n => go_split(s, sep, n as usize),
            };
            Ok(Val::List(Rc::new(
                parts.into_iter().map(|p| Val::Str(Cow::Owned(p))).collect(),
            )))
        }
        "lowerAscii" => Ok(Val::Str(Cow::Owned(
            str_arg(&recv, function)?.to_ascii_lowercase(),
        ))),
        "upperAscii" => Ok(Val::Str(Cow::Owned(
            str_arg(&recv, function)?.to_ascii_uppercase(),
        ))),
        "trim" => Ok(Val::Str(Cow::Owned(
            str_arg(&recv, function)?.trim().to_string(),
        ))),
        "replace" => {
            let s = str_arg(&recv, function)?;
            let from = str_arg(&args[0], function)?;
            let to = str_arg(&args[1], function)?;
            let limit = match args.get(2) {
                Some(n) => int_arg(n, function)?,
                None => -1,
            };
            Ok(Val::Str(Cow::Owned(if limit < 0 {
                s.replace(from, to)
            } else {
                s.replacen(from, to, limit as usize)
            })))
        }
        "join" => {
            let sep = match args.first() {
                Some(v) => str_arg(v, function)?.to_string(),
                None => String::new(),
            };
            let Some(n) = recv.list_len() else {
                return err(format!("no such overload: join on {}", recv.type_name()));
            };
            let mut parts = Vec::with_capacity(n);
            for i in 0..n {
                match recv.list_get(i) {
                    Some(Val::Str(s)) => parts.push(s.to_string()),
                    Some(other) => {
                        return err(format!(
                            "join: list element of type {} is not a string",
                            other.type_name()
                        ))
                    }
                    None => {}
                }
            }
            Ok(Val::Str(Cow::Owned(parts.join(&sep))))
        }
        "indexOf" | "lastIndexOf" => {
            let s = str_arg(&recv, function)?;
            let sub = str_arg(&args[0], function)?;
            let byte_pos = if function == "indexOf" {
                s.find(sub)
            } else {
                s.rfind(sub)
            };
            Ok(Val::Int(
                byte_pos
                    .map(|b| s[..b].chars().count() as i64)
                    .unwrap_or(-1),
            ))
        }
        other => err(format!("unsupported function '{other}'")),
    }
}

/// Go's `strings.SplitN` semantics (an empty separator splits into characters).
fn go_split(s: &str, sep: &str, limit: usize) -> Vec<String> {
    if sep.is_empty() {
        let chars: Vec<String> = s.chars().map(String::from).collect();
        if chars.len() <= limit {
            return chars;
        }
        let mut out: Vec<String> = chars[..limit - 1].to_vec();
        out.push(chars[limit - 1..].concat());
        return out;
    }
    s.splitn(limit, sep).map(str::to_string).collect()
}
