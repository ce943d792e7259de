
// Appended by `cargo xtask build` (xtask/src/restartable_core.js): the background replaces a core
// that trapped with a fresh instance of the same module. This glue keeps one instance in `wasm`
// and its init functions return early once it is set, so this resets it first. Objects made by
// the old instance must never be used again (call their `__destroy_into_raw()` first, so their
// finalizer does not free their pointer in the new instance).
export async function reinitCore(module) {
    wasm = undefined;
    __wbg_init_promise = undefined;
    return __wbg_init({ module_or_path: module });
}
