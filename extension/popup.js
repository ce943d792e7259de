// The popup is Rust (ui/src/popup.rs); this loads it.
import init, { popup } from "./ui/unbusy_ui.js";

init().then(popup);
