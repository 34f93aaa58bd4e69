// A serin metric provider written in C: it reports the number under "value" in its configuration
// (e.g. {"value": 0.97}) for the host to judge with the metric's conditions, and logs through the host.
//
// Build (see README "Write a plugin in C"):
//   wit-bindgen c --world metric-provider-plugin wit/0.1.0
//   clang --target=wasm32-wasi -mexec-model=reactor -O2 plugin.c metric_provider_plugin.c \
//         metric_provider_plugin_component_type.o -o plugin.core.wasm
//   wasm-tools component new plugin.core.wasm --adapt wasi_snapshot_preview1.reactor.wasm -o plugin.wasm

#include "metric_provider_plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef exports_serin_plugin_metric_provider_observation_t observation_t;

static void log_info(const char *text) {
    metric_provider_plugin_string_t msg;
    metric_provider_plugin_string_set(&msg, text);
    serin_plugin_log_log(SERIN_PLUGIN_LOG_LEVEL_INFO, &msg);
}

static void set_error(observation_t *ret, const char *text) {
    ret->tag = EXPORTS_SERIN_PLUGIN_METRIC_PROVIDER_OBSERVATION_ERROR;
    metric_provider_plugin_string_dup(&ret->val.error, text);
}

// Finds `"value": <number>` in the configuration JSON.
static int parse_value(const metric_provider_plugin_string_t *config, double *out) {
    char *json = malloc(config->len + 1);
    if (json == NULL) {
        return 0;
    }
    memcpy(json, config->ptr, config->len);
    json[config->len] = '\0';
    int found = 0;
    char *key = strstr(json, "\"value\"");
    if (key != NULL) {
        char *colon = strchr(key + 7, ':');
        if (colon != NULL) {
            char *end = NULL;
            double v = strtod(colon + 1, &end);
            if (end != colon + 1) {
                *out = v;
                found = 1;
            }
        }
    }
    free(json);
    return found;
}

void exports_serin_plugin_metric_provider_run(exports_serin_plugin_metric_provider_metric_context_t *ctx,
                                              observation_t *ret) {
    double value = 0;
    if (!parse_value(&ctx->config, &value)) {
        set_error(ret, "config needs a numeric \"value\"");
        exports_serin_plugin_metric_provider_metric_context_free(ctx);
        return;
    }
    log_info("c-metric measured a value");

    ret->tag = EXPORTS_SERIN_PLUGIN_METRIC_PROVIDER_OBSERVATION_JUDGE;
    exports_serin_plugin_metric_provider_judged_t *judged = &ret->val.judge;

    // The result is a one-node value tree holding a float.
    judged->result.nodes.len = 1;
    judged->result.nodes.ptr = malloc(sizeof(serin_plugin_types_value_node_t));
    judged->result.nodes.ptr[0].tag = SERIN_PLUGIN_TYPES_VALUE_NODE_FLOAT;
    judged->result.nodes.ptr[0].val.float_ = value;

    char display[64];
    snprintf(display, sizeof display, "%g", value);
    judged->display.is_some = true;
    metric_provider_plugin_string_dup(&judged->display.val, display);

    judged->metadata.len = 1;
    judged->metadata.ptr = malloc(sizeof(metric_provider_plugin_tuple2_string_string_t));
    metric_provider_plugin_string_dup(&judged->metadata.ptr[0].f0, "language");
    metric_provider_plugin_string_dup(&judged->metadata.ptr[0].f1, "c");

    exports_serin_plugin_metric_provider_metric_context_free(ctx);
}

void exports_serin_plugin_metric_provider_resume(exports_serin_plugin_metric_provider_metric_context_t *ctx,
                                                 exports_serin_plugin_metric_provider_in_flight_t *measurement,
                                                 observation_t *ret) {
    set_error(ret, "c-metric does not take long-running measurements");
    exports_serin_plugin_metric_provider_in_flight_free(measurement);
    exports_serin_plugin_metric_provider_metric_context_free(ctx);
}

void exports_serin_plugin_metric_provider_terminate(exports_serin_plugin_metric_provider_metric_context_t *ctx,
                                                    exports_serin_plugin_metric_provider_in_flight_t *measurement,
                                                    observation_t *ret) {
    exports_serin_plugin_metric_provider_resume(ctx, measurement, ret);
}

bool exports_serin_plugin_metric_provider_garbage_collect(
    exports_serin_plugin_metric_provider_metric_context_t *ctx, uint32_t keep, metric_provider_plugin_string_t *err) {
    (void)keep;
    (void)err;
    exports_serin_plugin_metric_provider_metric_context_free(ctx);
    return true;
}
