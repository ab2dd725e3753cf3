//! Lexer and recursive-descent parser for the CEL subset (grammar as in the CEL language definition).

use super::ast::{BinaryOp, Expr, Literal, MacroKind, UnaryOp};
use super::ParseError;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Int(i64),
    Uint(u64),
    Double(f64),
    /// 9223372036854775808 without a `u` suffix: only valid after unary minus.
    IntMinMagnitude,
    Str(String),
    Ident(String),
    Punct(&'static str),
    Eof,
}

const PUNCTS: [&str; 22] = [
    "&&", "||", "==", "!=", "<=", ">=", "(", ")", "[", "]", "{", "}", ".", ",", ":", "?", "!", "<",
    ">", "+", "-", "*",
];

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn err(&self, pos: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            position: pos,
            message: message.into(),
        }
    }

    fn tokens(mut self) -> Result<Vec<(usize, Tok)>, ParseError> {
        let mut out = Vec::new();
        loop {
            self.skip_space_and_comments();
            let start = self.pos;
            let tok = self.next_token()?;
            let eof = tok == Tok::Eof;
            out.push((start, tok));
            if eof {
                return Ok(out);
            }
        }
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn skip_space_and_comments(&mut self) {
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start();
            self.pos += rest.len() - trimmed.len();
            if self.rest().starts_with("//") {
                match self.rest().find('\n') {
                    Some(i) => self.pos += i + 1,
                    None => self.pos = self.src.len(),
                }
            } else {
                return;
            }
        }
    }

    fn next_token(&mut self) -> Result<Tok, ParseError> {
        let rest = self.rest();
        let Some(c) = rest.chars().next() else {
            return Ok(Tok::Eof);
        };
        if c.is_ascii_digit() || (c == '.' && rest[1..].starts_with(|d: char| d.is_ascii_digit())) {
            return self.number();
        }
        if c == '_' || c.is_ascii_alphabetic() {
            let len = rest
                .find(|ch: char| !(ch == '_' || ch.is_ascii_alphanumeric()))
                .unwrap_or(rest.len());
            let word = &rest[..len];
            let after = &rest[len..];
            if matches!(word, "r" | "R") && (after.starts_with('"') || after.starts_with('\'')) {
                self.pos += len;
                return self.string(true);
            }
            if matches!(word, "b" | "B") && (after.starts_with('"') || after.starts_with('\'')) {
                return Err(self.err(self.pos, "bytes literals are not supported"));
            }
            self.pos += len;
            return Ok(Tok::Ident(word.to_string()));
        }
        if c == '"' || c == '\'' {
            return self.string(false);
        }
        if c == '/' {
            self.pos += 1;
            return Ok(Tok::Punct("/"));
        }
        if c == '%' {
            self.pos += 1;
            return Ok(Tok::Punct("%"));
        }
        for p in PUNCTS {
            if rest.starts_with(p) {
                self.pos += p.len();
                return Ok(Tok::Punct(p));
            }
        }
        Err(self.err(self.pos, format!("unexpected character {c:?}")))
    }

    fn number(&mut self) -> Result<Tok, ParseError> {
        let start = self.pos;
        let rest = self.rest();
        if rest.starts_with("0x") || rest.starts_with("0X") {
            let digits_len = rest[2..]
                .find(|c: char| !c.is_ascii_hexdigit())
                .unwrap_or(rest.len() - 2);
            let digits = &rest[2..2 + digits_len];
            self.pos += 2 + digits_len;
            let unsigned = self.eat_suffix_u();
            let v = u64::from_str_radix(digits, 16)
                .map_err(|e| self.err(start, format!("invalid hex literal: {e}")))?;
            return self.int_token(start, v, unsigned);
        }
        let bytes = rest.as_bytes();
        let mut i = 0;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let mut is_double = false;
        if i < bytes.len()
            && bytes[i] == b'.'
            && bytes.get(i + 1).is_some_and(|b| b.is_ascii_digit())
        {
            is_double = true;
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
        }
        if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
            let mut j = i + 1;
            if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
                j += 1;
            }
            if j < bytes.len() && bytes[j].is_ascii_digit() {
                is_double = true;
                i = j;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
            }
        }
        let text = &rest[..i];
        self.pos += i;
        if is_double {
            let v: f64 = text
                .parse()
                .map_err(|e| self.err(start, format!("invalid double literal: {e}")))?;
            return Ok(Tok::Double(v));
        }
        let unsigned = self.eat_suffix_u();
        let v: u64 = text
            .parse()
            .map_err(|e| self.err(start, format!("invalid integer literal: {e}")))?;
        self.int_token(start, v, unsigned)
    }

    fn eat_suffix_u(&mut self) -> bool {
        if self.rest().starts_with(['u', 'U']) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn int_token(&self, start: usize, v: u64, unsigned: bool) -> Result<Tok, ParseError> {
        if unsigned {
            Ok(Tok::Uint(v))
        } else if v == i64::MAX as u64 + 1 {
            Ok(Tok::IntMinMagnitude)
        } else {
            i64::try_from(v)
                .map(Tok::Int)
                .map_err(|_| self.err(start, "integer literal out of range"))
        }
    }

    fn string(&mut self, raw: bool) -> Result<Tok, ParseError> {
        let start = self.pos;
        let rest = self.rest();
        let quote = if rest.starts_with("\"\"\"") {
            "\"\"\""
        } else if rest.starts_with("'''") {
            "'''"
        } else if rest.starts_with('"') {
            "\""
        } else {
            "'"
        };
        self.pos += quote.len();
        let mut out = String::new();
        loop {
            let rest = self.rest();
            if rest.starts_with(quote) {
                self.pos += quote.len();
                return Ok(Tok::Str(out));
            }
            let Some(c) = rest.chars().next() else {
                return Err(self.err(start, "unterminated string literal"));
            };
            if (c == '\n' || c == '\r') && quote.len() == 1 {
                return Err(self.err(start, "newline in single-line string literal"));
            }
            self.pos += c.len_utf8();
            if c != '\\' || raw {
                out.push(c);
                continue;
            }
            let Some(e) = self.rest().chars().next() else {
                return Err(self.err(start, "unterminated string literal"));
            };
            self.pos += e.len_utf8();
            match e {
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                '\'' => out.push('\''),
                '`' => out.push('`'),
                '?' => out.push('?'),
                'a' => out.push('\u{7}'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'v' => out.push('\u{b}'),
                'x' | 'X' => out.push(self.hex_escape(2)?),
                'u' => out.push(self.hex_escape(4)?),
                'U' => out.push(self.hex_escape(8)?),
                '0'..='3' => {
                    let digits = self
                        .rest()
                        .get(..2)
                        .filter(|d| d.bytes().all(|b| (b'0'..=b'7').contains(&b)))
                        .ok_or_else(|| {
                            self.err(self.pos, "an octal escape needs three octal digits")
                        })?;
                    let code = u32::from_str_radix(&format!("{e}{digits}"), 8)
                        .map_err(|_| self.err(self.pos, "invalid octal escape"))?;
                    self.pos += 2;
                    out.push(
                        char::from_u32(code)
                            .ok_or_else(|| self.err(self.pos, "invalid octal escape"))?,
                    );
                }
                other => {
                    return Err(self.err(self.pos - 1, format!("invalid escape sequence \\{other}")))
                }
            }
        }
    }

    fn hex_escape(&mut self, n: usize) -> Result<char, ParseError> {
        let digits = self
            .rest()
            .get(..n)
            .ok_or_else(|| self.err(self.pos, "truncated escape sequence"))?;
        let code = u32::from_str_radix(digits, 16)
            .map_err(|_| self.err(self.pos, "invalid hex escape"))?;
        self.pos += n;
        char::from_u32(code).ok_or_else(|| self.err(self.pos, "escape is not a valid code point"))
    }
}

/// Global functions: name and accepted argument counts.
const GLOBAL_FUNCTIONS: &[(&str, &[usize])] = &[
    ("size", &[1]),
    ("int", &[1]),
    ("uint", &[1]),
    ("double", &[1]),
    ("string", &[1]),
    ("bool", &[1]),
    ("matches", &[2]),
];

/// Receiver-style functions: name and accepted argument counts (excluding the receiver).
const MEMBER_FUNCTIONS: &[(&str, &[usize])] = &[
    ("size", &[0]),
    ("startsWith", &[1]),
    ("endsWith", &[1]),
    ("contains", &[1]),
    ("matches", &[1]),
    ("find", &[1]),
    ("findAll", &[1, 2]),
    ("split", &[1, 2]),
    ("lowerAscii", &[0]),
    ("upperAscii", &[0]),
    ("trim", &[0]),
    ("replace", &[2, 3]),
    ("join", &[0, 1]),
    ("indexOf", &[1]),
    ("lastIndexOf", &[1]),
];

const RESERVED: &[&str] = &[
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

pub(crate) struct Parser {
    toks: Vec<(usize, Tok)>,
    i: usize,
    depth: usize,
}

const MAX_DEPTH: usize = 250;

impl Parser {
    pub(crate) fn parse(src: &str) -> Result<Expr, ParseError> {
        let toks = Lexer { src, pos: 0 }.tokens()?;
        let mut p = Parser {
            toks,
            i: 0,
            depth: 0,
        };
        let e = p.expr()?;
        match p.peek() {
            Tok::Eof => Ok(e),
            t => Err(p.err(format!(
                "unexpected {} after end of expression",
                describe(t)
            ))),
        }
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.i.min(self.toks.len() - 1)].1
    }

    fn pos(&self) -> usize {
        self.toks[self.i.min(self.toks.len() - 1)].0
    }

    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn err(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            position: self.pos(),
            message: message.into(),
        }
    }

    fn is(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::Punct(q) if *q == p)
    }

    fn eat(&mut self, p: &str) -> bool {
        if self.is(p) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, p: &str) -> Result<(), ParseError> {
        if self.eat(p) {
            Ok(())
        } else {
            Err(self.err(format!("expected '{p}', found {}", describe(self.peek()))))
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("expression nested too deeply"));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let cond = self.or()?;
        let result = if self.eat("?") {
            let then = self.or()?;
            self.expect(":")?;
            let otherwise = self.expr()?;
            Expr::Conditional(Box::new(cond), Box::new(then), Box::new(otherwise))
        } else {
            cond
        };
        self.depth -= 1;
        Ok(result)
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut lhs = self.and()?;
        while self.eat("||") {
            let rhs = self.and()?;
            lhs = Expr::Binary(BinaryOp::Or, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut lhs = self.relation()?;
        while self.eat("&&") {
            let rhs = self.relation()?;
            lhs = Expr::Binary(BinaryOp::And, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn relation(&mut self) -> Result<Expr, ParseError> {
        let mut lhs = self.addition()?;
        loop {
            let op = match self.peek() {
                Tok::Punct("==") => BinaryOp::Eq,
                Tok::Punct("!=") => BinaryOp::Ne,
                Tok::Punct("<") => BinaryOp::Lt,
                Tok::Punct("<=") => BinaryOp::Le,
                Tok::Punct(">") => BinaryOp::Gt,
                Tok::Punct(">=") => BinaryOp::Ge,
                Tok::Ident(w) if w == "in" => BinaryOp::In,
                _ => return Ok(lhs),
            };
            self.bump();
            let rhs = self.addition()?;
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs));
        }
    }

    fn addition(&mut self) -> Result<Expr, ParseError> {
        let mut lhs = self.multiplication()?;
        loop {
            let op = match self.peek() {
                Tok::Punct("+") => BinaryOp::Add,
                Tok::Punct("-") => BinaryOp::Sub,
                _ => return Ok(lhs),
            };
            self.bump();
            let rhs = self.multiplication()?;
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs));
        }
    }

    fn multiplication(&mut self) -> Result<Expr, ParseError> {
        let mut lhs = self.unary()?;
        loop {
            let op = match self.peek() {
                Tok::Punct("*") => BinaryOp::Mul,
                Tok::Punct("/") => BinaryOp::Div,
                Tok::Punct("%") => BinaryOp::Rem,
                _ => return Ok(lhs),
            };
            self.bump();
            let rhs = self.unary()?;
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs));
        }
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        self.enter()?;
        let result = if self.eat("!") {
            Expr::Unary(UnaryOp::Not, Box::new(self.unary()?))
        } else if self.eat("-") {
            if *self.peek() == Tok::IntMinMagnitude {
                self.bump();
                self.member_suffix(Expr::Literal(Literal::Int(i64::MIN)))?
            } else {
                Expr::Unary(UnaryOp::Neg, Box::new(self.unary()?))
            }
        } else {
            let primary = self.primary()?;
            self.member_suffix(primary)?
        };
        self.depth -= 1;
        Ok(result)
    }

    fn member_suffix(&mut self, mut e: Expr) -> Result<Expr, ParseError> {
        loop {
            if self.eat(".") {
                let name = self.ident("field or method name after '.'")?;
                if self.eat("(") {
                    let args = self.args(")")?;
                    e = self.member_call(e, name, args)?;
                } else {
                    e = Expr::Select {
                        operand: Box::new(e),
                        field: name,
                    };
                }
            } else if self.eat("[") {
                let index = self.expr()?;
                self.expect("]")?;
                e = Expr::Index {
                    operand: Box::new(e),
                    index: Box::new(index),
                };
            } else {
                return Ok(e);
            }
        }
    }

    fn ident(&mut self, what: &str) -> Result<String, ParseError> {
        match self.bump() {
            Tok::Ident(name) => {
                if RESERVED.contains(&name.as_str())
                    || matches!(name.as_str(), "in" | "true" | "false" | "null")
                {
                    return Err(
                        self.err(format!("reserved word '{name}' cannot be used as {what}"))
                    );
                }
                Ok(name)
            }
            t => Err(self.err(format!("expected {what}, found {}", describe(&t)))),
        }
    }

    fn args(&mut self, close: &str) -> Result<Vec<Expr>, ParseError> {
        let mut args = Vec::new();
        if self.eat(close) {
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            if self.eat(close) {
                return Ok(args);
            }
            self.expect(",")?;
            if close == "]" && self.eat(close) {
                return Ok(args);
            }
        }
    }

    fn member_call(
        &mut self,
        target: Expr,
        name: String,
        mut args: Vec<Expr>,
    ) -> Result<Expr, ParseError> {
        if let Some(kind) = MacroKind::from_name(&name) {
            let arity_ok = match kind {
                MacroKind::Map => args.len() == 2 || args.len() == 3,
                _ => args.len() == 2,
            };
            if !arity_ok {
                return Err(self.err(format!(
                    "macro '{name}' takes a variable and an expression, got {} arguments",
                    args.len()
                )));
            }
            let var = match args.remove(0) {
                Expr::Ident(v) => v,
                _ => {
                    return Err(self.err(format!(
                        "the first argument of '{name}' must be a simple variable name"
                    )))
                }
            };
            return Ok(Expr::Macro {
                target: Box::new(target),
                kind,
                var,
                args,
            });
        }
        let Some((_, arities)) = MEMBER_FUNCTIONS.iter().find(|(n, _)| *n == name) else {
            return Err(self.err(format!("unsupported function '{name}'")));
        };
        if !arities.contains(&args.len()) {
            return Err(self.err(format!(
                "function '{name}' does not take {} arguments",
                args.len()
            )));
        }
        let regex = self.literal_regex(&name, args.first())?;
        Ok(Expr::Call {
            target: Some(Box::new(target)),
            function: name,
            args,
            regex,
        })
    }

    fn literal_regex(
        &self,
        function: &str,
        arg: Option<&Expr>,
    ) -> Result<Option<regex::Regex>, ParseError> {
        if !matches!(function, "matches" | "find" | "findAll") {
            return Ok(None);
        }
        match arg {
            Some(Expr::Literal(Literal::String(p))) => {
                crate::re2::compile(p).map(Some).map_err(|e| {
                    self.err(format!(
                        "invalid regular expression {p:?} in '{function}': {e}"
                    ))
                })
            }
            _ => Ok(None),
        }
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let tok = self.bump();
        Ok(match tok {
            Tok::Int(v) => Expr::Literal(Literal::Int(v)),
            Tok::Uint(v) => Expr::Literal(Literal::Uint(v)),
            Tok::IntMinMagnitude => return Err(self.err("integer literal out of range")),
            Tok::Double(v) => Expr::Literal(Literal::Double(v)),
            Tok::Str(s) => Expr::Literal(Literal::String(s)),
            Tok::Punct("(") => {
                let e = self.expr()?;
                self.expect(")")?;
                e
            }
            Tok::Punct("[") => Expr::List(self.args("]")?),
            Tok::Punct("{") => {
                let mut entries = Vec::new();
                if !self.eat("}") {
                    loop {
                        let k = self.expr()?;
                        self.expect(":")?;
                        let v = self.expr()?;
                        entries.push((k, v));
                        if self.eat("}") {
                            break;
                        }
                        self.expect(",")?;
                        if self.eat("}") {
                            break;
                        }
                    }
                }
                Expr::Map(entries)
            }
            Tok::Punct(".") => {
                // Leading-dot qualified identifiers (`.self`) resolve like plain identifiers here.
                let name = self.ident("identifier")?;
                Expr::Ident(name)
            }
            Tok::Ident(name) => match name.as_str() {
                "true" => Expr::Literal(Literal::Bool(true)),
                "false" => Expr::Literal(Literal::Bool(false)),
                "null" => Expr::Literal(Literal::Null),
                _ if RESERVED.contains(&name.as_str()) || name == "in" => {
                    return Err(self.err(format!("reserved word '{name}' is not allowed here")));
                }
                _ if self.is("(") => {
                    self.bump();
                    let args = self.args(")")?;
                    self.global_call(name, args)?
                }
                _ => Expr::Ident(name),
            },
            t => return Err(self.err(format!("unexpected {}", describe(&t)))),
        })
    }

    fn global_call(&mut self, name: String, mut args: Vec<Expr>) -> Result<Expr, ParseError> {
        if name == "has" {
            if args.len() != 1 {
                return Err(self.err("has() takes exactly one argument"));
            }
            return match args.remove(0) {
                Expr::Select { operand, field } => Ok(Expr::Has { operand, field }),
                _ => Err(self.err("invalid argument to has() macro: it must be a field selection like has(self.field)")),
            };
        }
        let Some((_, arities)) = GLOBAL_FUNCTIONS.iter().find(|(n, _)| *n == name) else {
            return Err(self.err(format!("unsupported function '{name}'")));
        };
        if !arities.contains(&args.len()) {
            return Err(self.err(format!(
                "function '{name}' does not take {} arguments",
                args.len()
            )));
        }
        let regex = if name == "matches" {
            self.literal_regex(&name, args.get(1))?
        } else {
            None
        };
        Ok(Expr::Call {
            target: None,
            function: name,
            args,
            regex,
        })
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Int(v) => format!("integer {v}"),
        Tok::Uint(v) => format!("unsigned integer {v}"),
        Tok::Double(v) => format!("double {v}"),
        Tok::Str(s) => format!("string {s:?}"),
        Tok::Ident(s) => format!("identifier '{s}'"),
        Tok::Punct(p) => format!("'{p}'"),
        Tok::IntMinMagnitude => "integer 9223372036854775808".to_string(),
        Tok::Eof => "end of expression".to_string(),
    }
}
