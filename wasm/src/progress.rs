//! `ProgressModel`: the core's progress model for one task.

use alloc::string::{String, ToString};

use js_sys::Object;
use wasm_bindgen::prelude::*;

use crate::args::*;
use crate::documents;
use flowgate_core::progress::TaskProgress;

/// The progress of one task, as the server models it: validated updates, sequence numbers,
/// terminal statuses and an ETA from the recent rate of progress.
#[wasm_bindgen]
pub struct ProgressModel {
    model: TaskProgress,
    /// The details of the last update that gave any, as a detached JSON copy: the core's model
    /// only keeps and replaces them, so they stay JavaScript values.
    details: JsValue,
}

#[wasm_bindgen]
impl ProgressModel {
    /// A queued task at 0%, created at `now` (ms; default `Date.now()`).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_optional_param_type = "string | null")] task_id: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "number | null")] user_id: Option<JsValue>,
        #[wasm_bindgen(unchecked_optional_param_type = "number | null")] now: Option<JsValue>,
    ) -> Result<ProgressModel, JsError> {
        let task_id = match task_id {
            Some(id) if !id.is_null() => string_arg(&id, "taskId")?,
            _ => String::new(),
        };
        let user_id = number_arg(user_id, "userId")?;
        let now = number_arg(now, "now")?;
        let now = duration_ms(now.unwrap_or_else(js_sys::Date::now), "now")?;
        let user_id = user_id.unwrap_or(0.0);
        if !is_whole(user_id) {
            return Err(JsError::new("userId must be a whole number"));
        }
        Ok(ProgressModel {
            model: TaskProgress::new(task_id, user_id as i64, now),
            details: Object::new().into(),
        })
    }

    /// Applies an update (the server's update body) at `now` (ms; default `Date.now()`) and
    /// returns the new status. Throws on a percent outside 0–100, after a terminal status, or
    /// going back to queued; the status is then unchanged.
    #[wasm_bindgen(unchecked_return_type = "ProgressStatus")]
    pub fn apply(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "ProgressUpdate")] update: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "number | null")] now: Option<JsValue>,
    ) -> Result<JsValue, JsError> {
        let (update, details) = documents::progress_update(&update)?;
        let now = number_arg(now, "now")?;
        let now = duration_ms(now.unwrap_or_else(js_sys::Date::now), "now")?;
        self.model
            .apply(&update, now)
            .map_err(|e| JsError::new(&e.to_string()))?;
        if let Some(details) = details {
            self.details = details;
        }
        Ok(self.status())
    }

    /// The current status.
    #[wasm_bindgen(getter, unchecked_return_type = "ProgressStatus")]
    pub fn status(&self) -> JsValue {
        documents::status_js(self.model.status(), &self.details)
    }

    /// The status in the server's JSON form, which `JSON.stringify(model)` writes: snake_case
    /// keys, `started_at` and `updated_at` as RFC 3339 in UTC with microseconds (the model's
    /// times taken as ms since the Unix epoch, as `Date.now()` gives them), `eta` in seconds.
    #[wasm_bindgen(js_name = toJSON, unchecked_return_type = "ProgressJson")]
    pub fn to_json(&self) -> JsValue {
        documents::status_json(self.model.status(), &self.details)
    }

    /// Milliseconds left as of `now` (default `Date.now()`), or `null` without a rate to go by
    /// (as the status's `eta`).
    #[wasm_bindgen(unchecked_return_type = "number | null")]
    pub fn eta(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "number | null")] now: Option<JsValue>,
    ) -> Result<JsValue, JsError> {
        let now = number_arg(now, "now")?;
        let now = duration_ms(now.unwrap_or_else(js_sys::Date::now), "now")?;
        Ok(self
            .model
            .status()
            .eta_at(now)
            .map_or(JsValue::NULL, |eta| JsValue::from_f64(ms(eta))))
    }
}
