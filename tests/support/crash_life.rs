//! One life of a crash-test child process: started as this test binary
//! again with the role's environment, its stdout lines parsed into
//! reports for the parent, SIGKILLed by the parent at a seeded moment.
#![allow(dead_code)]

use super::crash_child::{ChildEnv, Report};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Publisher,
    Subscriber,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Publisher => "publisher",
            Role::Subscriber => "subscriber",
        }
    }
}

/// A line from a child, or the end of its output (`None`).
#[derive(Debug)]
pub struct Heard {
    pub role: Role,
    pub life: u32,
    pub report: Option<Report>,
}

/// One life of a child process.
pub struct Life {
    pub number: u32,
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub stderr: PathBuf,
    pub killed: bool,
}

impl Life {
    /// Starts life `number` of `role` with `env`; its reports go to `tx`.
    pub fn start(
        role: Role,
        number: u32,
        env: &ChildEnv,
        dir: &Path,
        tx: &mpsc::UnboundedSender<Heard>,
    ) -> Life {
        let stderr = dir.join(format!("{}-{number}.stderr", role.name()));
        let exe = std::env::current_exe().expect("the test binary");
        let mut child = Command::new(exe)
            .args(["--exact", "crash_child", "--ignored", "--nocapture"])
            .envs(env.vars())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("child stderr file"))
            .kill_on_drop(true)
            .spawn()
            .expect("start a child");
        let stdout = child.stdout.take().expect("child stdout");
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(report) = Report::parse(&line) {
                    let _ = tx.send(Heard {
                        role,
                        life: number,
                        report: Some(report),
                    });
                }
            }
            let _ = tx.send(Heard {
                role,
                life: number,
                report: None,
            });
        });
        Life {
            number,
            stdin: child.stdin.take(),
            child,
            stderr,
            killed: false,
        }
    }

    /// SIGKILL (by PID, through the child handle).
    pub fn kill(&mut self) {
        self.child.start_kill().expect("SIGKILL the child");
        self.killed = true;
    }

    /// The end of its stderr, for a failure message.
    pub fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let start = text.len().saturating_sub(3000);
        text.get(start..).unwrap_or(&text).to_string()
    }
}
