//! Progress on stderr: a redrawn line on a terminal, occasional plain lines otherwise (so a log
//! file gets a readable record instead of carriage returns).

use std::io::Write;
use std::time::{Duration, Instant};

pub struct Progress {
    what: &'static str,
    enabled: bool,
    tty: bool,
    started: Instant,
    last_draw: Option<Instant>,
    /// Plain mode: the last 10% step printed.
    last_step: u64,
    drew: bool,
}

const REDRAW_EVERY: Duration = Duration::from_millis(100);
const PLAIN_EVERY: Duration = Duration::from_secs(2);

pub fn stderr_is_tty() -> bool {
    // SAFETY: isatty only inspects the descriptor number.
    unsafe { libc::isatty(2) == 1 }
}

impl Progress {
    pub fn new(what: &'static str, enabled: bool) -> Self {
        Progress {
            what,
            enabled,
            tty: stderr_is_tty(),
            started: Instant::now(),
            last_draw: None,
            last_step: 0,
            drew: false,
        }
    }

    /// Work measured in bytes against a known total: percentage, rate and time left.
    pub fn bytes(&mut self, done: u64, total: u64) {
        if !self.enabled {
            return;
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        let rate = if elapsed > 0.0 {
            done as f64 / elapsed
        } else {
            0.0
        };
        let pct = (done.min(total) * 100).checked_div(total).unwrap_or(100);
        let eta = if rate > 0.0 && total > done {
            format!("{:.0} s left", (total - done) as f64 / rate)
        } else {
            "--".into()
        };
        if self.tty {
            if !self.due() && done < total {
                return;
            }
            let width = 30;
            let filled = (pct as usize * width / 100).min(width);
            let bar: String = "#".repeat(filled) + &"-".repeat(width - filled);
            self.draw(&format!(
                "{}: [{bar}] {pct:>3}% {} / {}  {}/s  {eta}",
                self.what,
                mb(done),
                mb(total),
                mb(rate as u64)
            ));
        } else {
            let step = pct / 10;
            if step > self.last_step || (done >= total && !self.drew) {
                self.last_step = step;
                self.drew = true;
                eprintln!(
                    "{}: {pct}% {} of {} ({}/s, {eta})",
                    self.what,
                    mb(done),
                    mb(total),
                    mb(rate as u64)
                );
            }
        }
    }

    /// Work without a known total: a count and a byte count.
    pub fn count(&mut self, items: u64, bytes: u64, noun: &str) {
        if !self.enabled {
            return;
        }
        let every = if self.tty { REDRAW_EVERY } else { PLAIN_EVERY };
        if self.last_draw.is_some_and(|t| t.elapsed() < every) {
            return;
        }
        if self.last_draw.is_none() {
            // Nothing for short runs: the first report comes after one interval.
            self.last_draw = Some(Instant::now());
            return;
        }
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-9);
        let line = format!(
            "{}: {items} {noun}, {} ({}/s)",
            self.what,
            mb(bytes),
            mb((bytes as f64 / elapsed) as u64)
        );
        if self.tty {
            self.draw(&line);
        } else {
            self.last_draw = Some(Instant::now());
            eprintln!("{line}");
        }
    }

    fn due(&self) -> bool {
        self.last_draw.is_none_or(|t| t.elapsed() >= REDRAW_EVERY)
    }

    fn draw(&mut self, line: &str) {
        self.last_draw = Some(Instant::now());
        self.drew = true;
        let mut e = std::io::stderr().lock();
        let _ = write!(e, "\r{line}\x1b[K");
        let _ = e.flush();
    }

    /// Ends a redrawn line so the next output starts on its own line.
    pub fn finish(&mut self) {
        if self.enabled && self.tty && self.drew {
            eprintln!();
        }
    }
}

pub fn mb(bytes: u64) -> String {
    if bytes >= 10 << 20 {
        format!("{:.0} MB", bytes as f64 / 1e6)
    } else if bytes >= 1 << 20 {
        format!("{:.1} MB", bytes as f64 / 1e6)
    } else if bytes >= 1000 {
        format!("{:.1} kB", bytes as f64 / 1e3)
    } else {
        format!("{bytes} B")
    }
}
