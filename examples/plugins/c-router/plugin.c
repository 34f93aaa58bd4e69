// A serin traffic router written in C: it keeps a canary's split in a custom resource of its own, a
// `WeightedBackend` (example.serin.dev/v1) named by its configuration (e.g. {"object": "checkout"}), whose
// spec says which Service gets which share:
//
//   spec: {canary: {service: checkout-canary, weight: 20}, stable: {service: checkout-stable, weight: 80}}
//
// It needs `patch` on example.serin.dev weightedbackends (granted in its registration); header and mirror
// routes it cannot express are refused with a message.
//
// Build (as the tests do):
//   wit-bindgen c --world traffic-router-plugin wit/0.1.0
//   clang --target=wasm32-wasi -mexec-model=reactor -O2 plugin.c traffic_router_plugin.c \
//         traffic_router_plugin_component_type.o -o plugin.core.wasm
//   wasm-tools component new plugin.core.wasm --adapt wasi_snapshot_preview1.reactor.wasm -o plugin.wasm

#include "traffic_router_plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef traffic_router_plugin_string_t string_t;
typedef exports_serin_plugin_traffic_router_router_context_t context_t;

static void fail(string_t *err, const char *text) {
    traffic_router_plugin_string_dup(err, text);
}

// A copy of `s` with a terminating NUL.
static char *c_string(const string_t *s) {
    char *out = malloc(s->len + 1);
    if (out != NULL) {
        memcpy(out, s->ptr, s->len);
        out[s->len] = '\0';
    }
    return out;
}

// The string value of `"key": "..."` in a JSON object's text (a plain value without escapes), or NULL.
static char *json_string(const char *json, const char *key) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\"", key);
    const char *at = strstr(json, pattern);
    if (at == NULL) {
        return NULL;
    }
    const char *colon = strchr(at + strlen(pattern), ':');
    const char *open = colon == NULL ? NULL : strchr(colon, '"');
    const char *close = open == NULL ? NULL : strchr(open + 1, '"');
    if (close == NULL) {
        return NULL;
    }
    size_t len = (size_t)(close - open - 1);
    char *out = malloc(len + 1);
    if (out != NULL) {
        memcpy(out, open + 1, len);
        out[len] = '\0';
    }
    return out;
}

// Whether `s` is a plain name that needs no escaping inside a JSON string.
static int plain(const char *s) {
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20) {
            return 0;
        }
    }
    return 1;
}

static void describe(const serin_plugin_kubernetes_k8s_error_t *e, string_t *err) {
    char text[512];
    switch (e->tag) {
    case SERIN_PLUGIN_KUBERNETES_K8S_ERROR_DENIED:
        snprintf(text, sizeof text, "%.*s", (int)e->val.denied.len, (const char *)e->val.denied.ptr);
        break;
    case SERIN_PLUGIN_KUBERNETES_K8S_ERROR_API:
        snprintf(text, sizeof text, "%.*s", (int)e->val.api.message.len, (const char *)e->val.api.message.ptr);
        break;
    default:
        snprintf(text, sizeof text, "%.*s", (int)e->val.unavailable.len, (const char *)e->val.unavailable.ptr);
        break;
    }
    fail(err, text);
}

bool exports_serin_plugin_traffic_router_set_weight(context_t *ctx, int32_t desired_weight,
        exports_serin_plugin_traffic_router_list_weight_destination_t *additional, string_t *err) {
    (void)additional;
    char *config = c_string(&ctx->config);
    char *object = config == NULL ? NULL : json_string(config, "object");
    char *canary = c_string(&ctx->canary_service);
    char *stable = c_string(&ctx->stable_service);
    bool ok = false;
    if (object == NULL) {
        fail(err, "config needs the \"object\" to route");
    } else if (canary == NULL || stable == NULL || !plain(canary) || !plain(stable)) {
        fail(err, "the canary and stable Services need plain names");
    } else {
        char patch[1024];
        snprintf(patch, sizeof patch,
                 "{\"spec\":{\"canary\":{\"service\":\"%s\",\"weight\":%d},"
                 "\"stable\":{\"service\":\"%s\",\"weight\":%d}}}",
                 canary, desired_weight, stable, ctx->max_weight - desired_weight);
        serin_plugin_kubernetes_api_resource_t api;
        traffic_router_plugin_string_set(&api.group, "example.serin.dev");
        traffic_router_plugin_string_set(&api.version, "v1");
        traffic_router_plugin_string_set(&api.plural, "weightedbackends");
        string_t name, body, stored;
        traffic_router_plugin_string_set(&name, object);
        traffic_router_plugin_string_set(&body, patch);
        serin_plugin_kubernetes_k8s_error_t e;
        if (serin_plugin_kubernetes_merge_patch(&api, &name, &body, &stored, &e)) {
            traffic_router_plugin_string_free(&stored);
            ok = true;
        } else {
            describe(&e, err);
            serin_plugin_kubernetes_k8s_error_free(&e);
        }
    }
    free(config);
    free(object);
    free(canary);
    free(stable);
    return ok;
}

bool exports_serin_plugin_traffic_router_set_header_route(context_t *ctx,
        exports_serin_plugin_traffic_router_header_route_t *route, string_t *err) {
    (void)ctx;
    if (route->matches.len == 0) {
        return true;
    }
    fail(err, "a WeightedBackend cannot route by header");
    return false;
}

bool exports_serin_plugin_traffic_router_set_mirror_route(context_t *ctx,
        exports_serin_plugin_traffic_router_mirror_route_t *route, string_t *err) {
    (void)ctx;
    if (route->matches.len == 0) {
        return true;
    }
    fail(err, "a WeightedBackend cannot mirror requests");
    return false;
}

bool exports_serin_plugin_traffic_router_verify_weight(context_t *ctx, int32_t desired_weight,
        exports_serin_plugin_traffic_router_list_weight_destination_t *additional,
        exports_serin_plugin_traffic_router_verification_t *ret, string_t *err) {
    (void)ctx;
    (void)desired_weight;
    (void)additional;
    (void)err;
    *ret = EXPORTS_SERIN_PLUGIN_TRAFFIC_ROUTER_VERIFICATION_NOT_IMPLEMENTED;
    return true;
}

bool exports_serin_plugin_traffic_router_update_hash(context_t *ctx, string_t *canary_hash, string_t *stable_hash,
        exports_serin_plugin_traffic_router_list_weight_destination_t *additional, string_t *err) {
    (void)ctx;
    (void)canary_hash;
    (void)stable_hash;
    (void)additional;
    (void)err;
    return true;
}

bool exports_serin_plugin_traffic_router_remove_managed_routes(context_t *ctx, string_t *err) {
    (void)ctx;
    (void)err;
    return true;
}
