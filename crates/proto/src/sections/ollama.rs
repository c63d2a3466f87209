use serde::{Deserialize, Serialize};

fn is_empty<T>(v: &[T]) -> bool {
    v.is_empty()
}

/// A local Ollama server: the models on disk, those loaded, and what loading another would
/// leave of the host's memory.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Ollama {
    /// The API that answered, e.g. `http://127.0.0.1:11434`.
    pub url: String,
    /// Models on disk (`GET /api/tags`).
    pub models: Vec<OllamaModel>,
    /// Models in memory (`GET /api/ps`).
    pub loaded: Vec<OllamaLoaded>,
    /// The host's MemAvailable when the warnings were judged; absent when it could not be read
    /// (then there are no warnings either).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_available_bytes: Option<u64>,
    /// One sentence per on-disk model whose loading would leave less than the configured
    /// floor of available memory, e.g. `loading llama3:70b (39.9 GiB) would leave only
    /// 1.2 GiB of memory available`.
    #[serde(default, skip_serializing_if = "is_empty")]
    pub warnings: Vec<String>,
}

/// A model on disk.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OllamaModel {
    /// e.g. `llama3.2:latest`.
    pub name: String,
    pub size_bytes: u64,
    /// When it was pulled or last changed, unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_ms: Option<i64>,
    /// e.g. `llama`, `qwen2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// e.g. `7.6B`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_size: Option<String>,
    /// e.g. `Q4_K_M`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<String>,
    /// Whether it is in memory now (listed in `loaded`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub loaded: bool,
}

/// A model in memory.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OllamaLoaded {
    pub name: String,
    /// Memory it takes in all (weights and context), and the part of it in video memory;
    /// the rest is in the host's RAM.
    pub size_bytes: u64,
    pub vram_bytes: u64,
    /// When Ollama unloads it unless it is used again, unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_length: Option<u64>,
}
