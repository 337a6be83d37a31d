/*
 * The headset end of PJSIP's conference bridge, in C: miniaudio device callbacks that
 * drive the bridge's master port directly, the way PJSIP's own sound port does.
 *
 * Why C: in Python every device callback took the GIL, cost 0.1 to 0.35 ms of CPU, and
 * waited behind any busy Python thread; and a second clock (PJSIP's null sound device)
 * needed a FIFO with 30 ms of headroom on each side. Here the playback callback IS the
 * bridge's clock: each 20 ms frame it asks the master port for the mix (which runs the
 * conference: jitter buffers, decoders, the call's encoder) and plays it at once; the
 * capture callback hands each 20 ms of microphone to the master port, whose delay buffer
 * absorbs the capture/playback clock difference (WSOLA, no clicks).
 *
 * PJSIP functions are not linked: Python resolves them in the loaded pjsua2 module and
 * passes their addresses to lp_init. Every thread that calls into PJSIP registers with
 * pjlib first, with a descriptor that lives as long as the thread.
 *
 * The module is also a (function-less) Python extension so packaging tools find it; its
 * functions are called through ctypes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(_MSC_VER)
#define LP_EXPORT __declspec(dllexport)
#define LP_THREAD __declspec(thread)
#else
#define LP_EXPORT __attribute__((visibility("default")))
#define LP_THREAD __thread
#endif

/* pjmedia_frame, PJSIP 2.15 (pjmedia/frame.h) */
typedef struct lp_frame {
    int type; /* pjmedia_frame_type: 0 none, 1 audio */
    void *buf;
    size_t size;
    uint64_t timestamp; /* pj_timestamp */
    uint32_t bit_info;
} lp_frame;

typedef int (*lp_port_fn)(void *port, lp_frame *frame);
typedef int (*lp_is_registered_fn)(void);
typedef int (*lp_register_fn)(const char *name, long *desc, void **thread);

#define LP_FRAME_AUDIO 1
#define LP_MAX_FRAME 1920 /* 40 ms at 48 kHz: far above what the engine uses */
#define LP_MAX_UNTICKED 3 /* 60 ms of microphone without a bridge tick: stop feeding it */
#define LP_DESC_LONGS 256 /* pj_thread_desc is 64 longs; room to spare */

static struct {
    lp_port_fn get_frame;
    lp_port_fn put_frame;
    lp_is_registered_fn is_registered;
    lp_register_fn register_thread;
    void *master;
    unsigned frame_samples;
    volatile int capture_on;
    volatile int playback_on;
    volatile int muted;
    int16_t cap_buf[LP_MAX_FRAME];
    unsigned cap_len;
    int16_t play_buf[LP_MAX_FRAME];
    unsigned play_pos;
    unsigned play_len;
    uint64_t cap_ts;
    uint64_t play_ts;
    /* microphone frames handed over since the playback device last ran a tick */
    volatile unsigned cap_since_tick;
    /* statistics, read by Python: frames in and out, and frames the bridge had no audio for */
    volatile uint64_t frames_put;
    volatile uint64_t frames_got;
    volatile uint64_t frames_silent;
    volatile uint64_t errors;
    volatile uint64_t frames_dropped;
} g;

static LP_THREAD long t_desc[LP_DESC_LONGS];
static LP_THREAD int t_registered;

static lp_frame audio_frame(int16_t *buf, uint64_t timestamp)
{
    lp_frame f;
    f.type = LP_FRAME_AUDIO;
    f.buf = buf;
    f.size = g.frame_samples * sizeof(int16_t);
    f.timestamp = timestamp;
    f.bit_info = 0;
    return f;
}

static void ensure_registered(const char *name)
{
    void *thread = NULL;
    if (t_registered)
        return;
    if (!g.is_registered())
        g.register_thread(name, t_desc, &thread);
    t_registered = 1;
}

LP_EXPORT int lp_init(void *get_frame, void *put_frame, void *is_registered,
                      void *register_thread, unsigned frame_samples)
{
    if (!get_frame || !put_frame || !is_registered || !register_thread)
        return -1;
    if (frame_samples == 0 || frame_samples > LP_MAX_FRAME)
        return -2;
    g.get_frame = (lp_port_fn)get_frame;
    g.put_frame = (lp_port_fn)put_frame;
    g.is_registered = (lp_is_registered_fn)is_registered;
    g.register_thread = (lp_register_fn)register_thread;
    g.frame_samples = frame_samples;
    return 0;
}

/* Only while no device stream is open (the owner thread stops them first). */
LP_EXPORT void lp_set_master(void *master)
{
    g.master = master;
    g.cap_len = 0;
    g.play_pos = 0;
    g.play_len = 0;
    g.cap_since_tick = LP_MAX_UNTICKED;
}

LP_EXPORT void lp_set_capture(int on) { g.capture_on = on; }
LP_EXPORT void lp_set_playback(int on) { g.playback_on = on; }
LP_EXPORT void lp_set_muted(int muted) { g.muted = muted; }

LP_EXPORT void lp_stats(uint64_t out[5])
{
    out[0] = g.frames_put;
    out[1] = g.frames_got;
    out[2] = g.frames_silent;
    out[3] = g.errors;
    out[4] = g.frames_dropped;
}

/* ma_device_data_proc for the capture device (mono s16 at the bridge's rate). */
LP_EXPORT void lp_capture_cb(void *device, void *output, const void *input, uint32_t count)
{
    const int16_t *in = (const int16_t *)input;
    (void)device;
    (void)output;
    if (!g.capture_on || !g.master || !in)
        return;
    ensure_registered("lp-capture");
    while (count) {
        unsigned room = g.frame_samples - g.cap_len;
        unsigned take = count < room ? count : room;
        if (g.muted)
            memset(g.cap_buf + g.cap_len, 0, take * sizeof(int16_t));
        else
            memcpy(g.cap_buf + g.cap_len, in, take * sizeof(int16_t));
        g.cap_len += take;
        in += take;
        count -= take;
        if (g.cap_len == g.frame_samples && g.cap_since_tick >= LP_MAX_UNTICKED) {
            /* Nobody is running the bridge (the playback device is starting, switching or
             * stalled): frames handed over now would wait in its delay buffer and stay as
             * latency for the rest of the call, so drop them instead. */
            g.cap_len = 0;
            g.frames_dropped++;
        } else if (g.cap_len == g.frame_samples) {
            lp_frame f = audio_frame(g.cap_buf, g.cap_ts);
            if (g.put_frame(g.master, &f) != 0)
                g.errors++;
            g.cap_ts += g.frame_samples;
            g.frames_put++;
            g.cap_since_tick++;
            g.cap_len = 0;
        }
    }
}

/* ma_device_data_proc for the playback device: each empty buffer runs one bridge tick. */
LP_EXPORT void lp_playback_cb(void *device, void *output, const void *input, uint32_t count)
{
    int16_t *out = (int16_t *)output;
    (void)device;
    (void)input;
    if (!g.playback_on || !g.master) {
        memset(out, 0, count * sizeof(int16_t));
        return;
    }
    ensure_registered("lp-playback");
    while (count) {
        unsigned take;
        if (g.play_pos == g.play_len) {
            lp_frame f = audio_frame(g.play_buf, g.play_ts);
            if (g.get_frame(g.master, &f) != 0) {
                g.errors++;
                f.type = 0;
            }
            if (f.type != LP_FRAME_AUDIO) {
                memset(g.play_buf, 0, g.frame_samples * sizeof(int16_t));
                g.frames_silent++;
            }
            g.play_ts += g.frame_samples;
            g.frames_got++;
            g.cap_since_tick = 0;
            g.play_pos = 0;
            g.play_len = g.frame_samples;
        }
        take = g.play_len - g.play_pos;
        if (take > count)
            take = count;
        memcpy(out, g.play_buf + g.play_pos, take * sizeof(int16_t));
        out += take;
        g.play_pos += take;
        count -= take;
    }
}

static struct PyModuleDef lpaudio_module = {
    PyModuleDef_HEAD_INIT, "_lpaudio", "Native audio callbacks (used through ctypes).", -1,
    NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__lpaudio(void) { return PyModule_Create(&lpaudio_module); }
