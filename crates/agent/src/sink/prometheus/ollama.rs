//! A local Ollama server: models on disk and in memory, labelled `model`, and how many models
//! could not be loaded without starving the host of memory. Ollama publishes no Prometheus
//! metrics of its own, so every name is `hostwatch_ollama_*`.

use super::rows::{Rows, info, unix_seconds};
use crate::sink::exposition::{Exposition, Kind};
use hostwatch_proto::sections::Ollama;

pub(super) fn render(e: &mut Exposition, o: &Ollama) {
    e.single(
        "hostwatch_ollama_memory_warnings",
        Kind::Gauge,
        "On-disk models whose loading would leave less than the configured floor of available memory.",
        o.warnings.len() as f64,
    );
    info(
        e,
        "hostwatch_ollama_model_info",
        "A model on disk: family, parameter size and quantization; always 1.",
        &o.models,
        |m| {
            vec![
                ("model", m.name.clone()),
                ("family", m.family.clone().unwrap_or_default()),
                (
                    "parameter_size",
                    m.parameter_size.clone().unwrap_or_default(),
                ),
                ("quantization", m.quantization.clone().unwrap_or_default()),
            ]
        },
    );
    let models = Rows::new(&o.models, |m| vec![("model", m.name.clone())]);
    models.family(
        e,
        "hostwatch_ollama_model_size_bytes",
        Kind::Gauge,
        "Size of a model on disk.",
        |m| Some(m.size_bytes as f64),
    );
    models.family(
        e,
        "hostwatch_ollama_model_modified_timestamp_seconds",
        Kind::Gauge,
        "When a model on disk was pulled or last changed, unix seconds.",
        |m| m.modified_ms.map(unix_seconds),
    );
    let loaded = Rows::new(&o.loaded, |m| vec![("model", m.name.clone())]);
    loaded.family(
        e,
        "hostwatch_ollama_loaded_size_bytes",
        Kind::Gauge,
        "Memory a loaded model takes in all (weights and context).",
        |m| Some(m.size_bytes as f64),
    );
    loaded.family(
        e,
        "hostwatch_ollama_loaded_vram_bytes",
        Kind::Gauge,
        "The part of a loaded model in video memory; the rest is in the host's RAM.",
        |m| Some(m.vram_bytes as f64),
    );
    loaded.family(
        e,
        "hostwatch_ollama_loaded_expires_timestamp_seconds",
        Kind::Gauge,
        "When Ollama unloads the model unless it is used again, unix seconds.",
        |m| m.expires_ms.map(unix_seconds),
    );
    loaded.family(
        e,
        "hostwatch_ollama_loaded_context_tokens",
        Kind::Gauge,
        "Context length the model was loaded with, in tokens.",
        |m| m.context_length.map(|v| v as f64),
    );
}
