//! The kinds of value a flag (or its `POLLSERVE_*` variable) takes, each parsed with a message a
//! newcomer can act on: "must be at least 1", not a parser's type jargon. clap calls these;
//! [`describe`] turns clap's error into the one line `main` prints.

use clap::CommandFactory;

use crate::app::AccessLogFormat;
use crate::db::Durability;
use clap::error::{ContextKind, ContextValue, ErrorKind};

/// A whole number of at least 1 (threads, seconds of a timeout, a limit).
pub fn positive(value: &str) -> Result<u64, String> {
    match whole(value) {
        Ok(0) | Err(_) if is_negative_or_zero(value) => Err("must be at least 1".into()),
        other => other,
    }
}

/// A whole number, 0 allowed.
pub fn whole(value: &str) -> Result<u64, String> {
    if value.trim_start().starts_with('-') {
        return Err("must not be negative".into());
    }
    value.trim().parse().map_err(|_| "must be a whole number".into())
}

fn is_negative_or_zero(value: &str) -> bool {
    value.trim().parse::<i128>().is_ok_and(|n| n <= 0)
}

/// Database threads: 1 to 64.
pub fn db_threads(value: &str) -> Result<u64, String> {
    positive(value).and_then(|n| if n <= 64 { Ok(n) } else { Err("must be at most 64".into()) })
}

/// `--db`: a file, `:memory:`, `off`, or a PostgreSQL URL.
pub fn db_location(value: &str) -> Result<crate::db::DbLocation, String> {
    crate::db::DbLocation::parse(value)
}

/// `--instance`: empty (a random name), or 1 to 16 of `A-Z a-z 0-9 _ . -`.
pub fn instance(value: &str) -> Result<String, String> {
    let max = crate::app::middleware::MAX_INSTANCE;
    let valid = value.len() <= max && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if valid { Ok(value.to_owned()) } else { Err(format!("must be at most {max} of A-Z a-z 0-9 _ . -")) }
}

/// A number of failed logins: a whole number that fits in 32 bits.
pub fn attempts(value: &str) -> Result<u32, String> {
    whole(value).and_then(|n| u32::try_from(n).map_err(|_| "is too large".into()))
}

/// A size in bytes: a whole number with an optional unit, `k`/`KB`/`KiB` (1024), `m`/`MB`/`MiB`
/// or `g`/`GB`/`GiB`, any case: `1048576`, `64k`, `1MiB`.
pub fn size(value: &str) -> Result<u64, String> {
    let value = value.trim();
    let digits_end = value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len());
    let (digits, unit) = value.split_at(digits_end);
    if digits.is_empty() {
        return Err("must be a size in bytes, such as 65536, 64k or 1MiB".into());
    }
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("has an unknown unit {unit:?} (use k, m or g: 64k, 1MiB)")),
    };
    digits.parse::<u64>().ok().and_then(|n| n.checked_mul(multiplier)).ok_or_else(|| "is too large".into())
}

/// The size of a request head: 256 bytes to 1 MiB.
pub fn head_size(value: &str) -> Result<u64, String> {
    size(value).and_then(|n| {
        if (256..=1 << 20).contains(&n) { Ok(n) } else { Err("must be between 256 and 1MiB".into()) }
    })
}

/// `--db-sync`: `normal` or `full`.
pub fn durability(value: &str) -> Result<Durability, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "normal" => Ok(Durability::Normal),
        "full" => Ok(Durability::Full),
        _ => Err("must be normal or full".into()),
    }
}

/// A switch's value, as people write them in environment variables.
pub fn boolish(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("must be 1, 0, true, false, yes or no".into()),
    }
}

/// An access-log format: `text`, `combined` or `json`.
pub fn access_log_format(value: &str) -> Result<AccessLogFormat, String> {
    AccessLogFormat::from_name(value.trim()).ok_or_else(|| "must be text, combined or json".into())
}

/// A CORS origin as browsers send it, `scheme://host[:port]` with no path, or `*`. Scheme and
/// host are lowercased, as browsers serialize them.
pub fn origin(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value == "*" {
        return Ok(value.into());
    }
    let invalid = || "is not an origin: scheme://host[:port] with no path, such as https://app.example, or *";
    let (scheme, authority) = value.split_once("://").ok_or_else(invalid)?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !authority.ends_with(']') => (host, Some(port)),
        _ => (authority, None),
    };
    let host_ok = !host.is_empty()
        && host.chars().all(|c| c.is_ascii_alphanumeric() || "-.[]:".contains(c))
        && (host.starts_with('[') == host.ends_with(']'));
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()));
    if scheme_ok && host_ok && port_ok { Ok(value.to_ascii_lowercase()) } else { Err(invalid().into()) }
}

/// One plain line for a command-line error: which flag (or variable), what is wrong, and
/// what was given. Help and version requests are not errors; `main` prints those as clap does.
pub fn describe(error: &clap::Error) -> String {
    let given = match error.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(value)) => value.as_str(),
        _ => "",
    };
    let flag = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => arg.split_whitespace().next().unwrap_or(arg),
        _ => "",
    };
    match error.kind() {
        ErrorKind::ValueValidation | ErrorKind::InvalidValue if !flag.is_empty() && !given.is_empty() => {
            let reason = std::error::Error::source(error).map_or("is not valid".into(), ToString::to_string);
            let source = match variable_of(flag) {
                Some(variable) if std::env::var(&variable).is_ok_and(|set| set == given) => {
                    format!("{flag} (from {variable})")
                }
                _ => flag.to_owned(),
            };
            format!("{source} {reason} (got {given:?})")
        }
        _ => {
            let rendered = error.to_string();
            let first = rendered.lines().next().unwrap_or_default();
            format!("{} (see --help)", first.trim_start_matches("error: "))
        }
    }
}

/// The environment variable that can also set `flag` (`--threads` → `POLLSERVE_THREADS`).
fn variable_of(flag: &str) -> Option<String> {
    let name = flag.trim_start_matches("--");
    let command = super::Args::command();
    let arg = command.get_arguments().find(|arg| arg.get_long() == Some(name))?;
    arg.get_env().map(|env| env.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_say_plainly_what_is_wrong() {
        assert_eq!(positive("3"), Ok(3));
        assert_eq!(positive("0"), Err("must be at least 1".into()));
        assert_eq!(positive("-1"), Err("must be at least 1".into()));
        assert_eq!(positive("two"), Err("must be a whole number".into()));
        assert_eq!(whole("0"), Ok(0));
        assert_eq!(whole("-5"), Err("must not be negative".into()));
        assert_eq!(db_threads("65"), Err("must be at most 64".into()));
    }

    #[test]
    fn sizes_take_units() {
        assert_eq!(size("1048576"), Ok(1 << 20));
        assert_eq!(size("64k"), Ok(64 << 10));
        assert_eq!(size("64KB"), Ok(64 << 10));
        assert_eq!(size("1MiB"), Ok(1 << 20));
        assert_eq!(size("2 m"), Ok(2 << 20));
        assert_eq!(size("1g"), Ok(1 << 30));
        assert_eq!(size("10b"), Ok(10));
        assert!(size("1.5m").unwrap_err().contains("unknown unit"));
        assert!(size("-1").unwrap_err().contains("size in bytes"));
        assert_eq!(size("99999999999999999999g"), Err("is too large".into()));
        assert_eq!(head_size("128"), Err("must be between 256 and 1MiB".into()));
    }

    #[test]
    fn switches_take_the_usual_spellings() {
        for yes in ["1", "true", "TRUE", "yes", "on"] {
            assert_eq!(boolish(yes), Ok(true), "{yes}");
        }
        for no in ["0", "false", "No", "off"] {
            assert_eq!(boolish(no), Ok(false), "{no}");
        }
        assert!(boolish("maybe").is_err());
    }

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        for good in
            ["*", "https://app.example", "http://localhost:3000", "http://[::1]:8080", "HTTPS://App.Example"]
        {
            assert!(origin(good).is_ok(), "{good}");
        }
        assert_eq!(origin("HTTPS://App.Example").unwrap(), "https://app.example");
        for bad in [
            "app.example",
            "https://app.example/",
            "https://app.example/x",
            "https://",
            "https://a:b",
            "https://a b",
            "//a",
        ] {
            assert!(origin(bad).is_err(), "{bad}");
        }
    }
}
