//! What Go expr's checker knows about a value at compile time (its "nature"): a Go type, or nothing.

use std::rc::Rc;

#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    /// No type known (printed `unknown`).
    Unknown,
    /// The `nil` literal (also printed `unknown`).
    Nil,
    /// `interface {}`: any value; like `Unknown`, it passes every check.
    Any,
    Bool,
    Int,
    Int64,
    Float,
    Str,
    /// A slice. When `typed`, its Go type is `[]elem` (`split` returns `[]string`); otherwise it is
    /// `[]interface {}` whose elements are known to be `elem` (an array literal's).
    Array {
        elem: Box<Ty>,
        typed: bool,
    },
    /// `map[key]elem`.
    Map {
        key: Box<Ty>,
        elem: Box<Ty>,
    },
    Func(Rc<Sig>),
    /// Go's `error` interface (only ever seen in a builtin's signature).
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sig {
    pub ins: Vec<Ty>,
    pub variadic: bool,
    pub outs: Vec<Ty>,
    /// For a closure: the nature of its body (Go's `Ref`).
    pub body: Option<Ty>,
}

/// `reflect.Kind`, as far as the checker compares kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoKind {
    Invalid,
    Interface,
    Bool,
    Int,
    Int64,
    Float64,
    String,
    Slice,
    Map,
    Func,
}

impl Ty {
    pub fn any_array() -> Ty {
        Ty::Array { elem: Box::new(Ty::Any), typed: false }
    }

    pub fn array_of(elem: Ty) -> Ty {
        Ty::Array { elem: Box::new(elem), typed: false }
    }

    pub fn typed_array(elem: Ty) -> Ty {
        Ty::Array { elem: Box::new(elem), typed: true }
    }

    pub fn string_map() -> Ty {
        Ty::Map { key: Box::new(Ty::Str), elem: Box::new(Ty::Any) }
    }

    pub fn func(ins: Vec<Ty>, out: Ty) -> Ty {
        Ty::Func(Rc::new(Sig { ins, variadic: false, outs: vec![out], body: None }))
    }

    pub fn kind(&self) -> GoKind {
        match self {
            Ty::Unknown | Ty::Nil => GoKind::Invalid,
            Ty::Any => GoKind::Interface,
            Ty::Bool => GoKind::Bool,
            Ty::Int => GoKind::Int,
            Ty::Int64 => GoKind::Int64,
            Ty::Float => GoKind::Float64,
            Ty::Str => GoKind::String,
            Ty::Array { .. } => GoKind::Slice,
            Ty::Map { .. } => GoKind::Map,
            Ty::Func(_) => GoKind::Func,
            Ty::Error => GoKind::Interface,
        }
    }

    /// Go's `Nature.IsUnknown`: no type, or `interface {}`.
    pub fn unknown(&self) -> bool {
        matches!(self, Ty::Unknown | Ty::Any)
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Ty::Nil)
    }

    pub fn integer(&self) -> bool {
        matches!(self, Ty::Int | Ty::Int64)
    }

    pub fn number(&self) -> bool {
        matches!(self, Ty::Int | Ty::Int64 | Ty::Float)
    }

    pub fn is_bool(&self) -> bool {
        matches!(self, Ty::Bool)
    }

    pub fn is_string(&self) -> bool {
        matches!(self, Ty::Str)
    }

    pub fn is_array(&self) -> bool {
        matches!(self, Ty::Array { .. })
    }

    pub fn is_map(&self) -> bool {
        matches!(self, Ty::Map { .. })
    }

    /// The element nature of an array or map.
    pub fn elem(&self) -> Ty {
        match self {
            Ty::Array { elem, .. } | Ty::Map { elem, .. } => (**elem).clone(),
            _ => Ty::Unknown,
        }
    }

    pub fn key(&self) -> Ty {
        match self {
            Ty::Map { key, .. } => (**key).clone(),
            _ => Ty::Unknown,
        }
    }

    /// The Go type's name (`Nature.String()`): `unknown` when there is no type.
    pub fn name(&self) -> String {
        match self {
            Ty::Unknown | Ty::Nil => "unknown".into(),
            _ => self.go_type().unwrap_or_default(),
        }
    }

    /// The Go type, `None` when there is none. Array literals are `[]interface {}` whatever they hold.
    pub fn go_type(&self) -> Option<String> {
        Some(match self {
            Ty::Unknown | Ty::Nil => return None,
            Ty::Any => "interface {}".into(),
            Ty::Bool => "bool".into(),
            Ty::Int => "int".into(),
            Ty::Int64 => "int64".into(),
            Ty::Float => "float64".into(),
            Ty::Str => "string".into(),
            Ty::Array { elem, typed: true } => {
                format!("[]{}", elem.go_type().unwrap_or_else(|| "interface {}".into()))
            }
            Ty::Array { .. } => "[]interface {}".into(),
            Ty::Map { key, elem } => format!(
                "map[{}]{}",
                key.go_type().unwrap_or_else(|| "interface {}".into()),
                elem.go_type().unwrap_or_else(|| "interface {}".into())
            ),
            Ty::Func(sig) => sig.go_type(),
            Ty::Error => "error".into(),
        })
    }

    /// The nature reduced to its Go type, as `reflect.Type` sees it (the elements known of an array
    /// literal are forgotten; `Nil` has no type).
    pub fn reflect(&self) -> Option<Ty> {
        match self {
            Ty::Unknown | Ty::Nil => None,
            Ty::Array { typed: false, .. } => Some(Ty::any_array()),
            t => Some(t.clone()),
        }
    }

    /// Go's `Nature.AssignableTo`.
    pub fn assignable_to(&self, to: &Ty) -> bool {
        if self.is_nil()
            && matches!(to.kind(), GoKind::Interface | GoKind::Func | GoKind::Map | GoKind::Slice)
        {
            return true;
        }
        let (Some(a), Some(b)) = (self.go_type(), to.go_type()) else { return false };
        if self.kind() != to.kind() && to.kind() != GoKind::Interface {
            return false;
        }
        matches!(to, Ty::Any) || a == b
    }

    /// Go's `Nature.ComparableTo`.
    pub fn comparable_to(&self, rhs: &Ty) -> bool {
        self.unknown()
            || rhs.unknown()
            || self.is_nil()
            || rhs.is_nil()
            || self.number() && rhs.number()
            || self.is_array() && rhs.is_array()
            || self.assignable_to(rhs)
    }

    /// Go's `Nature.MaybeCompatible`: one side unknown and the other passing `check`, or both unknown.
    pub fn maybe_compatible(&self, rhs: &Ty, check: impl Fn(&Ty) -> bool) -> bool {
        let (lu, ru) = (self.unknown(), rhs.unknown());
        lu && (ru || check(rhs)) || ru && check(self)
    }

    /// Go's `PromoteNumericNature`: float if either side is, else int.
    pub fn promote_numeric(&self, rhs: &Ty) -> Ty {
        if self.unknown() || rhs.unknown() {
            Ty::Unknown
        } else if matches!(self, Ty::Float) || matches!(rhs, Ty::Float) {
            Ty::Float
        } else {
            Ty::Int
        }
    }
}

impl Sig {
    pub fn go_type(&self) -> String {
        let name = |t: &Ty| t.go_type().unwrap_or_else(|| "interface {}".into());
        let mut ins: Vec<String> = self.ins.iter().map(name).collect();
        if self.variadic
            && let Some(last) = ins.last_mut()
        {
            *last = format!("...{}", last.trim_start_matches("[]"));
        }
        let outs: Vec<String> = self.outs.iter().map(name).collect();
        let out = match outs.len() {
            0 => String::new(),
            1 => format!(" {}", outs[0]),
            _ => format!(" ({})", outs.join(", ")),
        };
        format!("func({}){out}", ins.join(", "))
    }
}
