// A serin step plugin written in C: a soak step. It keeps the canary at its step for a number of checks, one
// every `intervalSeconds`, and then lets the Rollout go on; its configuration is the step's `config`, e.g.
//
//   steps:
//   - setWeight: 20
//   - plugin: {name: example/c-soak, config: {checks: 3, intervalSeconds: 60}}
//
// It counts its checks in the status it hands back (the host gives it back on the next call), reaches
// nothing outside, and has nothing to undo on abort or termination.
//
// Build (as the tests do):
//   wit-bindgen c --world step-plugin wit/0.2.0
//   clang --target=wasm32-wasi -mexec-model=reactor -O2 plugin.c step_plugin.c \
//         step_plugin_component_type.o -o plugin.core.wasm
//   wasm-tools component new plugin.core.wasm --adapt wasi_snapshot_preview1.reactor.wasm -o plugin.wasm

#include "step_plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef step_plugin_string_t string_t;
typedef exports_serin_plugin_step_step_context_t context_t;
typedef exports_serin_plugin_step_step_result_t result_t;

// The integer value of `"key": N` in a JSON object's text, or `fallback`.
static long json_int(const string_t *json, const char *key, long fallback) {
    char *text = malloc(json->len + 1);
    if (text == NULL) {
        return fallback;
    }
    memcpy(text, json->ptr, json->len);
    text[json->len] = '\0';
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\"", key);
    long value = fallback;
    const char *at = strstr(text, pattern);
    const char *colon = at == NULL ? NULL : strchr(at + strlen(pattern), ':');
    if (colon != NULL) {
        char *end;
        long parsed = strtol(colon + 1, &end, 10);
        if (end != colon + 1) {
            value = parsed;
        }
    }
    free(text);
    return value;
}

static void answer(result_t *ret, exports_serin_plugin_step_step_phase_t phase, const char *message) {
    memset(ret, 0, sizeof *ret);
    ret->phase = phase;
    step_plugin_string_dup(&ret->message, message);
}

void exports_serin_plugin_step_run(context_t *ctx, result_t *ret) {
    long checks = json_int(&ctx->config, "checks", 3);
    long interval = json_int(&ctx->config, "intervalSeconds", 60);
    if (checks < 1 || interval < 1) {
        answer(ret, EXPORTS_SERIN_PLUGIN_STEP_STEP_PHASE_FAILED, "checks and intervalSeconds must be positive");
        return;
    }
    long done = ctx->status.is_some ? json_int(&ctx->status.val, "checks", 0) : 0;
    done += 1;
    char message[128];
    char status[64];
    snprintf(status, sizeof status, "{\"checks\":%ld}", done);
    if (done >= checks) {
        snprintf(message, sizeof message, "soak check %ld of %ld passed", done, checks);
        answer(ret, EXPORTS_SERIN_PLUGIN_STEP_STEP_PHASE_SUCCESSFUL, message);
    } else {
        snprintf(message, sizeof message, "soak check %ld of %ld, next in %lds", done, checks, interval);
        answer(ret, EXPORTS_SERIN_PLUGIN_STEP_STEP_PHASE_RUNNING, message);
        ret->requeue_after_ms.is_some = true;
        ret->requeue_after_ms.val = (uint64_t)interval * 1000;
    }
    ret->status.is_some = true;
    step_plugin_string_dup(&ret->status.val, status);
}

void exports_serin_plugin_step_terminate(context_t *ctx, result_t *ret) {
    (void)ctx;
    answer(ret, EXPORTS_SERIN_PLUGIN_STEP_STEP_PHASE_SUCCESSFUL, "soak ended early");
}

void exports_serin_plugin_step_abort(context_t *ctx, result_t *ret) {
    (void)ctx;
    answer(ret, EXPORTS_SERIN_PLUGIN_STEP_STEP_PHASE_SUCCESSFUL, "nothing to undo");
}
