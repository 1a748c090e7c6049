//! The flattened image's config: the runtime settings kept, `rootfs.diff_ids` rewritten, and
//! the squashed history collapsed into one step whose commands are dropped (they can hold
//! secrets; `docker history` shows them) unless asked to keep them.

use rharden_image::{Digest, Image};
use serde_json::{json, Value};

use crate::error::FlattenError;

/// Builds the new config document. `kept` layers stay below the new one.
pub fn rewrite(
    image: &Image,
    from_layer: usize,
    new_diff_id: &Digest,
    keep_history: bool,
) -> Result<(Vec<u8>, usize), FlattenError> {
    let mut config: Value = serde_json::from_slice(&image.config_bytes)
        .map_err(|source| FlattenError::Config { source })?;
    let Some(doc) = config.as_object_mut() else {
        return Err(FlattenError::Unflattenable {
            problem: "the config is not a JSON object".into(),
        });
    };
    // Docker's legacy `container_config` holds the last build step's command line; `container`
    // names the build container. Neither describes the image.
    doc.remove("container_config");
    doc.remove("container");
    let mut diff_ids: Vec<Value> = image.layers[..from_layer]
        .iter()
        .map(|l| json!(l.diff_id.to_string()))
        .collect();
    diff_ids.push(json!(new_diff_id.to_string()));
    doc.insert(
        "rootfs".into(),
        json!({"type": "layers", "diff_ids": diff_ids}),
    );

    let history: Vec<Value> = doc
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // History steps up to the first squashed layer's step stay; the rest are squashed.
    let split = image
        .layers
        .get(from_layer)
        .and_then(|l| l.history.as_ref())
        .map(|h| h.index);
    let (kept, squashed): (Vec<Value>, Vec<Value>) = match split {
        Some(i) if i <= history.len() => (history[..i].to_vec(), history[i..].to_vec()),
        _ if from_layer == 0 => (Vec::new(), history.clone()),
        _ => {
            return Err(FlattenError::Unflattenable {
                problem: "the history does not say which steps made the kept layers".into(),
            })
        }
    };
    let dropped = if keep_history {
        0
    } else {
        squashed
            .iter()
            .filter(|h| h.get("created_by").is_some())
            .count()
    };
    let mut new_history = kept;
    if keep_history {
        for mut step in squashed.iter().cloned() {
            if let Some(obj) = step.as_object_mut() {
                obj.insert("empty_layer".into(), json!(true));
            }
            new_history.push(step);
        }
    }
    let last = image.layers.len() - 1;
    let mut step = json!({
        "created_by": format!("rharden flatten: layers {from_layer}..{last} squashed into one"),
        "comment": if keep_history {
            format!("{} history steps kept above, marked empty_layer", squashed.len())
        } else {
            format!("{} history steps squashed; their commands were dropped (--keep-history keeps them)", squashed.len())
        },
    });
    if let (Some(created), Some(obj)) = (doc.get("created").cloned(), step.as_object_mut()) {
        // The image's own time, not now: the same input flattens to the same bytes.
        obj.insert("created".into(), created);
    }
    new_history.push(step);
    doc.insert("history".into(), Value::Array(new_history));
    let bytes = serde_json::to_vec(&config).map_err(|source| FlattenError::Config { source })?;
    Ok((bytes, dropped))
}
