//! fio's arithmetic in option values: a value that starts with `(` is an expression, such as
//! `(1+2)*4k` or `(3600/4)s`, evaluated as fio's `exp/expression-parser.y` does: `+ - * / % ^`,
//! parentheses, unary minus, integer or decimal numbers, and unit suffixes after any term
//! (`k`, `m`, `g`, `t`, `p` with optional `b`; `kib`, `mib`, `gib`, `tib`, `pib` powers of 1000;
//! for times `s`, `ms`, `us`, `m` minutes, `h`, `d`). Without any suffix the result is in the
//! option's own unit. Integer arithmetic stays integer (`7/2` is 3) until a decimal joins in.

use crate::error::ValueError;

/// What the expression measures: sizes in bytes, or times in microseconds (fio's unit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Quantity {
    /// Bytes.
    Bytes,
    /// Microseconds; `implied` is the multiplier of a result with no unit (1 000 000 when the
    /// option counts seconds).
    Micros {
        /// Microseconds per unit of a bare number.
        implied: u64,
    },
}

/// A number as fio's parser carries it: an integer until a decimal takes part.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    fn float(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
    quantity: Quantity,
    units: bool,
}

fn err(what: &str) -> ValueError {
    ValueError::new(format!("{what} (fio arithmetic: (2+2)*1k, (3600/4)s)"))
}

impl Parser<'_> {
    fn skip_blanks(&mut self) {
        while self.s.get(self.at).is_some_and(|c| *c == b' ' || *c == b'\t') {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_blanks();
        self.s.get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.at += 1;
            return true;
        }
        false
    }

    /// `+` and `-`, left to right: the loosest binding.
    fn additive(&mut self) -> Result<Num, ValueError> {
        let mut v = self.suffixed()?;
        loop {
            if self.eat(b'+') {
                v = arith(v, self.suffixed()?, |a, b| a.checked_add(b), |a, b| a + b)?;
            } else if self.eat(b'-') {
                v = arith(v, self.suffixed()?, |a, b| a.checked_sub(b), |a, b| a - b)?;
            } else {
                return Ok(v);
            }
        }
    }

    /// A product followed by unit suffixes: `2*4k` is `(2*4)k`, as fio's grammar binds them.
    fn suffixed(&mut self) -> Result<Num, ValueError> {
        let mut v = self.multiplicative()?;
        while let Some(mult) = self.suffix()? {
            self.units = true;
            v = arith(v, mult, |a, b| a.checked_mul(b), |a, b| a * b)?;
        }
        Ok(v)
    }

    fn multiplicative(&mut self) -> Result<Num, ValueError> {
        let mut v = self.power()?;
        loop {
            if self.eat(b'*') {
                v = arith(v, self.power()?, |a, b| a.checked_mul(b), |a, b| a * b)?;
            } else if self.eat(b'/') {
                let d = self.power()?;
                if d.float() == 0.0 {
                    return Err(err("division by zero"));
                }
                v = arith(v, d, |a, b| a.checked_div(b), |a, b| a / b)?;
            } else {
                return Ok(v);
            }
        }
    }

    /// `^`, right to left.
    fn power(&mut self) -> Result<Num, ValueError> {
        let base = self.modulo()?;
        if !self.eat(b'^') {
            return Ok(base);
        }
        let exp = self.power()?;
        match (base, exp) {
            (Num::Int(b), Num::Int(e)) if e >= 0 => {
                let e = u32::try_from(e).map_err(|_| err("exponent too large"))?;
                b.checked_pow(e).map(Num::Int).ok_or_else(|| err("number too large"))
            }
            (b, e) => Ok(Num::Float(b.float().powf(e.float()))),
        }
    }

    fn modulo(&mut self) -> Result<Num, ValueError> {
        let mut v = self.unary()?;
        while self.eat(b'%') {
            let d = self.unary()?;
            if d.float() == 0.0 {
                return Err(err("modulo by zero"));
            }
            v = arith(v, d, |a, b| a.checked_rem(b), |a, b| a % b)?;
        }
        Ok(v)
    }

    fn unary(&mut self) -> Result<Num, ValueError> {
        if self.eat(b'-') {
            return Ok(match self.unary()? {
                Num::Int(i) => Num::Int(-i),
                Num::Float(f) => Num::Float(-f),
            });
        }
        if self.eat(b'(') {
            let v = self.additive()?;
            if !self.eat(b')') {
                return Err(err("missing ')'"));
            }
            return Ok(v);
        }
        self.number()
    }

    fn number(&mut self) -> Result<Num, ValueError> {
        self.skip_blanks();
        let start = self.at;
        let digits = |p: &mut Self| {
            while p.s.get(p.at).is_some_and(u8::is_ascii_digit) {
                p.at += 1;
            }
        };
        digits(self);
        let mut float = false;
        if self.s.get(self.at) == Some(&b'.') {
            float = true;
            self.at += 1;
            digits(self);
        }
        // An exponent: `e`/`E` followed by digits (a lone `e` is no suffix fio knows either).
        if matches!(self.s.get(self.at), Some(b'e' | b'E'))
            && self.s.get(self.at + 1).is_some_and(|c| c.is_ascii_digit() || *c == b'-' || *c == b'+')
        {
            float = true;
            self.at += 2;
            digits(self);
        }
        let text = std::str::from_utf8(&self.s[start..self.at]).unwrap_or_default();
        if text.is_empty() || text == "." {
            return Err(err("expected a number"));
        }
        if float {
            text.parse::<f64>().map(Num::Float).map_err(|_| err("bad number"))
        } else {
            text.parse::<i128>().map(Num::Int).map_err(|_| err("number too large"))
        }
    }

    /// A unit suffix here, as its multiplier.
    fn suffix(&mut self) -> Result<Option<Num>, ValueError> {
        self.skip_blanks();
        let start = self.at;
        while self.s.get(self.at).is_some_and(u8::is_ascii_alphabetic) {
            self.at += 1;
        }
        if self.at == start {
            return Ok(None);
        }
        let word = std::str::from_utf8(&self.s[start..self.at]).unwrap_or_default().to_ascii_lowercase();
        let time = matches!(self.quantity, Quantity::Micros { .. });
        let k: i128 = 1024;
        let mult = match word.as_str() {
            "k" | "kb" => k,
            "m" if time => 60_000_000,
            "m" | "mb" => k * k,
            "g" | "gb" => k * k * k,
            "t" | "tb" => k * k * k * k,
            "p" | "pb" => k * k * k * k * k,
            "kib" => 1000,
            "mib" => 1_000_000,
            "gib" => 1_000_000_000,
            "tib" => 1_000_000_000_000,
            "pib" => 1_000_000_000_000_000,
            "s" => 1_000_000,
            "ms" => 1000,
            "us" => 1,
            "h" => 3_600_000_000,
            "d" => 86_400_000_000,
            _ => return Err(err(&format!("unknown unit '{word}'"))),
        };
        Ok(Some(Num::Int(mult)))
    }
}

fn arith(
    a: Num,
    b: Num,
    int: impl Fn(i128, i128) -> Option<i128>,
    float: impl Fn(f64, f64) -> f64,
) -> Result<Num, ValueError> {
    match (a, b) {
        (Num::Int(a), Num::Int(b)) => int(a, b).map(Num::Int).ok_or_else(|| err("number too large")),
        (a, b) => Ok(Num::Float(float(a.float(), b.float()))),
    }
}

/// Evaluates `text` (which starts with `(`) to a whole number of bytes or microseconds, not
/// negative; a decimal result is truncated, as fio's is.
pub(crate) fn evaluate(text: &str, quantity: Quantity) -> Result<u64, ValueError> {
    let mut p = Parser { s: text.as_bytes(), at: 0, quantity, units: false };
    let v = p.additive()?;
    if p.peek().is_some() {
        return Err(err(&format!("unexpected '{}'", &text[p.at..])));
    }
    let implied = match quantity {
        Quantity::Micros { implied } if !p.units => implied as f64,
        _ => 1.0,
    };
    let value = match v {
        Num::Int(i) if implied == 1.0 => i as f64,
        other => other.float() * implied,
    };
    if !value.is_finite() || value < 0.0 || value >= u64::MAX as f64 {
        return Err(err("the result must be a whole number from 0"));
    }
    match v {
        Num::Int(i) if implied == 1.0 => u64::try_from(i).map_err(|_| err("the result must be a whole number from 0")),
        _ => Ok(value as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(s: &str) -> Result<u64, ValueError> {
        evaluate(s, Quantity::Bytes)
    }

    fn secs(s: &str) -> Result<u64, ValueError> {
        evaluate(s, Quantity::Micros { implied: 1_000_000 })
    }

    #[test]
    fn fio_arithmetic() {
        assert_eq!(bytes("(1+2)*4k"), Ok(12 << 10));
        assert_eq!(bytes("(2*4k)"), Ok(8 << 10));
        assert_eq!(bytes("(1+2k)"), Ok(2049));
        assert_eq!(bytes("(7/2)"), Ok(3));
        assert_eq!(bytes("(2^10)"), Ok(1024));
        assert_eq!(bytes("(10%4)"), Ok(2));
        assert_eq!(bytes("(-2+6)"), Ok(4));
        assert_eq!(bytes("(1.5*1m)"), Ok(3 << 19));
        assert_eq!(bytes("( 64 * 1MiB )"), Ok(64_000_000));
        assert_eq!(secs("(30)"), Ok(30_000_000));
        assert_eq!(secs("(1m+30s)"), Ok(90_000_000));
        assert_eq!(secs("(500ms)"), Ok(500_000));
        assert_eq!(secs("(1.5)"), Ok(1_500_000));
        for bad in ["(1/0)", "(1+)", "(2", "(1)x", "(3-5)", "(2q)", "()"] {
            assert!(bytes(bad).is_err(), "{bad}");
        }
    }
}
