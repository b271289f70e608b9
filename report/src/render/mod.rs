//! Renderers of a run: text (a terminal), markdown (a pull-request comment), json (for
//! tools), sarif (GitHub code scanning), html (a page a reviewer can open).

pub mod html;
pub mod json;
pub mod markdown;
pub mod sarif;
pub mod text;
