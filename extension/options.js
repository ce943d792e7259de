// The options page is Rust (ui/src/options.rs); this loads it.
import init, { options } from "./ui/unbusy_ui.js";

init().then(options);
