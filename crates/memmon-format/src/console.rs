//! The console (stderr) lines, as the original printed them on stdout.
//!
//! memmon prints them on stderr because stdout belongs to the watched command. Each function
//! returns the line without its `\n`.

use crate::record::{IntervalText, Record};
use memmon_core::IntervalSpec;
use std::fmt::Display;
use std::path::Path;

const PREFIX: &str = "[MemoryMonitor] ";

/// `[MemoryMonitor] tracemalloc有効化` (when the detail source is enabled).
pub fn tracemalloc_enabled() -> String {
    format!("{PREFIX}tracemalloc有効化")
}

/// `[MemoryMonitor] ログファイル: PATH` (the original prints the absolute path; pass one).
pub fn log_file(path: &Path) -> String {
    format!("{PREFIX}ログファイル: {}", path.display())
}

/// `[MemoryMonitor] モニタリング開始 (間隔: N秒)`, N printed as in the header.
pub fn start(interval: IntervalSpec) -> String {
    format!(
        "{PREFIX}モニタリング開始 (間隔: {}秒)",
        IntervalText::from_spec(interval)
    )
}

/// A sample line prefixed `[MemoryMonitor] ` (the original echoes every 10th sample).
pub fn sample(record: &Record) -> String {
    format!("{PREFIX}{record}")
}

/// A warning line, as in the log, without a prefix.
pub fn warning(record: &Record) -> String {
    record.to_string()
}

/// `[MemoryMonitor] メモリ情報取得エラー: MESSAGE`.
pub fn error(message: impl Display) -> String {
    format!("{PREFIX}メモリ情報取得エラー: {message}")
}

/// `[MemoryMonitor] モニタリング停止 - ログ保存: PATH`.
pub fn stop(path: &Path) -> String {
    format!("{PREFIX}モニタリング停止 - ログ保存: {}", path.display())
}

/// `メモリモニタリングテスト開始`: test mode's first line.
pub fn test_start() -> String {
    "メモリモニタリングテスト開始".to_owned()
}

/// `反復 I: NMB のデータを保持`: test mode's progress after step `iteration`.
pub fn test_iteration(iteration: u64, held_mb: u64) -> String {
    format!("反復 {iteration}: {held_mb}MB のデータを保持")
}

/// `テスト中断`: test mode stopped by Ctrl-C.
pub fn test_interrupted() -> String {
    "テスト中断".to_owned()
}

/// `テスト完了`: test mode's last line.
pub fn test_done() -> String {
    "テスト完了".to_owned()
}
