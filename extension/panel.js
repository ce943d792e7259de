// The API panel is Rust (ui/src/panel.rs); this loads it.
import init, { panel } from "./ui/unbusy_ui.js";

init().then(panel);
