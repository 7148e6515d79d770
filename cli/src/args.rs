//! A small argument parser: each subcommand declares its positionals and options in a [`Spec`],
//! from which both the parsing and the `--help` text come, so the two cannot disagree.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// One option: `--long VALUE` (or `--long=VALUE`) when `value` names its argument, else a flag.
pub struct Opt {
    pub long: &'static str,
    pub value: Option<&'static str>,
    pub help: &'static str,
}

pub const fn flag(long: &'static str, help: &'static str) -> Opt {
    Opt {
        long,
        value: None,
        help,
    }
}

pub const fn val(long: &'static str, value: &'static str, help: &'static str) -> Opt {
    Opt {
        long,
        value: Some(value),
        help,
    }
}

/// A subcommand's interface.
pub struct Spec {
    pub name: &'static str,
    pub about: &'static str,
    /// Positionals: (name, required). Optional ones come last.
    pub positionals: &'static [(&'static str, bool)],
    pub options: &'static [Opt],
    /// More text after the option list (exit codes, formats).
    pub notes: &'static str,
    pub examples: &'static [&'static str],
}

impl Spec {
    pub fn usage_line(&self) -> String {
        let mut s = format!("bitcask {}", self.name);
        for (name, required) in self.positionals {
            if *required {
                s.push_str(&format!(" {name}"));
            } else {
                s.push_str(&format!(" [{name}]"));
            }
        }
        if !self.options.is_empty() {
            s.push_str(" [options]");
        }
        s
    }

    pub fn help(&self) -> String {
        let mut s = format!("{}\n\nUsage: {}\n", self.about, self.usage_line());
        if !self.options.is_empty() {
            s.push_str("\nOptions:\n");
            for o in self.options {
                let left = match o.value {
                    Some(v) => format!("--{} {v}", o.long),
                    None => format!("--{}", o.long),
                };
                s.push_str(&format!("  {left:<24} {}\n", o.help));
            }
        }
        s.push_str(&format!("  {:<24} {}\n", "-h, --help", "print this help"));
        if !self.notes.is_empty() {
            s.push('\n');
            s.push_str(self.notes);
            if !self.notes.ends_with('\n') {
                s.push('\n');
            }
        }
        if !self.examples.is_empty() {
            s.push_str("\nExamples:\n");
            for e in self.examples {
                s.push_str(&format!("  {e}\n"));
            }
        }
        s
    }
}

/// Parsed arguments of one subcommand.
pub struct Parsed {
    pub positionals: Vec<OsString>,
    values: HashMap<&'static str, OsString>,
    flags: Vec<&'static str>,
}

/// What parsing produced instead of arguments.
pub enum ParseOutcome {
    Help,
    Usage(String),
}

pub fn parse(spec: &Spec, args: &[OsString]) -> Result<Parsed, ParseOutcome> {
    let mut p = Parsed {
        positionals: Vec::new(),
        values: HashMap::new(),
        flags: Vec::new(),
    };
    let mut i = 0;
    let mut only_positionals = false;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let bytes = arg.as_bytes();
        if only_positionals || !bytes.starts_with(b"-") || bytes == b"-" {
            p.positionals.push(arg.clone());
            continue;
        }
        if bytes == b"--" {
            only_positionals = true;
            continue;
        }
        if bytes == b"-h" || bytes == b"--help" {
            return Err(ParseOutcome::Help);
        }
        let Some(body) = bytes.strip_prefix(b"--") else {
            return Err(ParseOutcome::Usage(format!(
                "unknown option '{}' (options are spelled --name)",
                arg.to_string_lossy()
            )));
        };
        let (name, inline) = match body.iter().position(|&b| b == b'=') {
            Some(eq) => (&body[..eq], Some(OsStr::from_bytes(&body[eq + 1..]))),
            None => (body, None),
        };
        let Some(opt) = spec.options.iter().find(|o| o.long.as_bytes() == name) else {
            return Err(ParseOutcome::Usage(format!(
                "unknown option '--{}' for '{}'",
                String::from_utf8_lossy(name),
                spec.name
            )));
        };
        match (opt.value, inline) {
            (None, Some(_)) => {
                return Err(ParseOutcome::Usage(format!(
                    "--{} takes no value",
                    opt.long
                )));
            }
            (None, None) => p.flags.push(opt.long),
            (Some(v), inline) => {
                let value = match inline {
                    Some(x) => x.to_os_string(),
                    None => {
                        let Some(next) = args.get(i) else {
                            return Err(ParseOutcome::Usage(format!(
                                "--{} needs a value ({v})",
                                opt.long
                            )));
                        };
                        i += 1;
                        next.clone()
                    }
                };
                if p.values.insert(opt.long, value).is_some() {
                    return Err(ParseOutcome::Usage(format!(
                        "--{} given more than once",
                        opt.long
                    )));
                }
            }
        }
    }
    let required = spec.positionals.iter().filter(|(_, r)| *r).count();
    if p.positionals.len() < required {
        let missing = spec.positionals[p.positionals.len()].0;
        return Err(ParseOutcome::Usage(format!("missing {missing}")));
    }
    if p.positionals.len() > spec.positionals.len() {
        return Err(ParseOutcome::Usage(format!(
            "unexpected argument '{}'",
            p.positionals[spec.positionals.len()].to_string_lossy()
        )));
    }
    Ok(p)
}

impl Parsed {
    pub fn flag(&self, long: &str) -> bool {
        self.flags.contains(&long)
    }

    pub fn value(&self, long: &str) -> Option<&OsStr> {
        self.values.get(long).map(|v| v.as_os_str())
    }

    pub fn positional(&self, i: usize) -> Option<&OsStr> {
        self.positionals.get(i).map(|v| v.as_os_str())
    }

    /// A numeric option, with its default; a usage error names the option.
    pub fn number<T: std::str::FromStr>(&self, long: &str, default: T) -> Result<T, String> {
        match self.value(long) {
            None => Ok(default),
            Some(v) => {
                let s = v.to_string_lossy().replace('_', "");
                s.parse().map_err(|_| {
                    format!("--{long}: '{}' is not a valid number", v.to_string_lossy())
                })
            }
        }
    }
}
