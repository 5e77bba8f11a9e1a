/*
 * The art expert: visual arts — art history, movements and periods,
 * artists and works, media and techniques, museums. This file is the domain
 * description (routing vocabulary, examples, system prompt, options) and
 * the plugin's lifecycle; the answer check lives in art_check.c.
 */
#include "art.h"

#include "plmm_sdk.h"

#include <string.h>

/* ---- routing vocabulary ----
 * Weights: 3 = the word alone names the domain (a movement, an artist, a
 * technique), 2 = strongly artistic, 1 to 1.5 = artistic in context but
 * common elsewhere ("portrait", "landscape", "composition"). */
static const plmm_routing_signal signals[] = {
    /* general */
    {"art", 2.0f, 0},
    {"arts", 1.5f, 0},
    {"artist*", 2.5f, 0},
    {"artwork*", 3.0f, 0},
    {"art history", 3.0f, 0},
    {"art movement*", 3.0f, 0},
    {"masterpiece*", 2.5f, 0},
    {"museum*", 2.5f, 0},
    {"gallery", 2.0f, 0},
    {"galleries", 2.0f, 0},
    {"exhibition*", 2.0f, 0},
    {"curator*", 3.0f, 0},
    {"aesthetic*", 1.5f, 0},
    {"style", 0.5f, 0},
    /* media and techniques */
    {"painting*", 2.5f, 0},
    {"painted", 1.5f, 0},
    {"painter*", 3.0f, 0},
    {"paint", 1.5f, 0},
    {"oil paint*", 3.0f, 0},
    {"oil on canvas", 3.0f, 0},
    {"watercolo*", 3.0f, 0},
    {"acrylic*", 2.5f, 0},
    {"gouache", 3.0f, 0},
    {"tempera", 3.0f, 0},
    {"fresco*", 3.0f, 0},
    {"canvas", 2.0f, 0},
    {"easel", 3.0f, 0},
    {"gesso", 3.0f, 0},
    {"impasto", 3.0f, 0},
    {"glaze*", 1.5f, 0},
    {"brushstroke*", 3.0f, 0},
    {"brushwork", 3.0f, 0},
    {"palette", 2.0f, 0},
    {"pigment*", 2.5f, 0},
    {"color theory", 3.0f, 0},
    {"colour theory", 3.0f, 0},
    {"chiaroscuro", 3.0f, 0},
    {"sfumato", 3.0f, 0},
    {"perspective", 1.0f, 0},
    {"composition", 1.5f, 0},
    {"portrait*", 2.0f, 0},
    {"self portrait*", 3.0f, 0},
    {"landscape painting*", 3.0f, 0},
    {"still life", 3.0f, 0},
    {"nude*", 1.5f, 0},
    {"sculpt*", 3.0f, 0},
    {"statue*", 2.0f, 0},
    {"bronze", 1.5f, 0},
    {"marble", 1.5f, 0},
    {"mosaic*", 2.5f, 0},
    {"mural*", 3.0f, 0},
    {"drawing*", 2.0f, 0},
    {"sketch*", 1.5f, 0},
    {"charcoal", 2.0f, 0},
    {"illustrat*", 1.5f, 0},
    {"calligraphy", 2.5f, 0},
    {"printmaking", 3.0f, 0},
    {"etching*", 3.0f, 0},
    {"engraving*", 2.5f, 0},
    {"woodcut*", 3.0f, 0},
    {"woodblock print*", 3.0f, 0},
    {"lithograph*", 3.0f, 0},
    {"screen print*", 2.5f, 0},
    {"ceramic*", 2.0f, 0},
    {"pottery", 2.5f, 0},
    {"photograph*", 1.5f, 0},
    {"photography", 2.0f, 0},
    {"installation art", 3.0f, 0},
    {"iconograph*", 3.0f, 0},
    {"symbolism", 1.5f, 0},
    {"provenance", 2.5f, 0},
    {"forger*", 1.5f, 0},
    {"auction*", 1.5f, 0},
    {"restoration", 1.5f, 0},
    /* periods and movements */
    {"renaissance", 3.0f, 0},
    {"baroque", 3.0f, 0},
    {"rococo", 3.0f, 0},
    {"manneris*", 3.0f, 0},
    {"neoclassic*", 3.0f, 0},
    {"romanticism", 3.0f, 0},
    {"realism", 1.5f, 0},
    {"impressionis*", 3.0f, 0},
    {"expressionis*", 3.0f, 0},
    {"fauvis*", 3.0f, 0},
    {"cubis*", 3.0f, 0},
    {"futuris*", 2.0f, 0},
    {"dada*", 2.5f, 0},
    {"surrealis*", 3.0f, 0},
    {"pop art", 3.0f, 0},
    {"op art", 3.0f, 0},
    {"minimalis*", 1.5f, 0},
    {"abstract art", 3.0f, 0},
    {"abstract", 1.0f, 0},
    {"contemporary art", 3.0f, 0},
    {"modern art", 3.0f, 0},
    {"art nouveau", 3.0f, 0},
    {"art deco", 3.0f, 0},
    {"bauhaus", 3.0f, 0},
    {"ukiyo e", 3.0f, 0},
    {"gothic", 1.5f, 0},
    {"byzantine", 2.0f, 0},
    {"pre raphaelite*", 3.0f, 0},
    /* artists, works, places */
    {"da vinci", 3.0f, 0},
    {"leonardo", 2.5f, 0},
    {"michelangelo", 3.0f, 0},
    {"raphael", 2.5f, 0},
    {"botticelli", 3.0f, 0},
    {"titian", 3.0f, 0},
    {"durer", 3.0f, 0},
    {"dürer", 3.0f, 0},
    {"bosch", 2.0f, 0},
    {"bruegel", 3.0f, 0},
    {"caravaggio", 3.0f, 0},
    {"rembrandt", 3.0f, 0},
    {"vermeer", 3.0f, 0},
    {"rubens", 3.0f, 0},
    {"velazquez", 3.0f, 0},
    {"velázquez", 3.0f, 0},
    {"bernini", 3.0f, 0},
    {"goya", 3.0f, 0},
    {"turner", 1.5f, 0},
    {"constable", 1.5f, 0},
    {"delacroix", 3.0f, 0},
    {"monet", 3.0f, 0},
    {"manet", 3.0f, 0},
    {"degas", 3.0f, 0},
    {"renoir", 3.0f, 0},
    {"cezanne", 3.0f, 0},
    {"cézanne", 3.0f, 0},
    {"van gogh", 3.0f, 0},
    {"gauguin", 3.0f, 0},
    {"seurat", 3.0f, 0},
    {"rodin", 3.0f, 0},
    {"klimt", 3.0f, 0},
    {"munch", 3.0f, 0},
    {"matisse", 3.0f, 0},
    {"picasso", 3.0f, 0},
    {"braque", 3.0f, 0},
    {"kandinsky", 3.0f, 0},
    {"mondrian", 3.0f, 0},
    {"duchamp", 3.0f, 0},
    {"magritte", 3.0f, 0},
    {"dali", 3.0f, 0},
    {"dalí", 3.0f, 0},
    {"frida kahlo", 3.0f, 0},
    {"kahlo", 3.0f, 0},
    {"o keeffe", 3.0f, 0},
    {"pollock", 3.0f, 0},
    {"rothko", 3.0f, 0},
    {"warhol", 3.0f, 0},
    {"lichtenstein", 3.0f, 0},
    {"hokusai", 3.0f, 0},
    {"banksy", 3.0f, 0},
    {"basquiat", 3.0f, 0},
    {"mona lisa", 3.0f, 0},
    {"starry night", 3.0f, 0},
    {"sistine", 3.0f, 0},
    {"guernica", 3.0f, 0},
    {"louvre", 3.0f, 0},
    {"uffizi", 3.0f, 0},
    {"prado", 3.0f, 0},
    {"rijksmuseum", 3.0f, 0},
    {"moma", 3.0f, 0},
    {"tate", 2.0f, 0},
};

static const char *const examples[] = {
    "What techniques did Caravaggio use to create dramatic light in his Baroque paintings?",
    "How did Impressionist painters like Monet handle color and brushwork outdoors?",
    "What is the difference between fresco and tempera painting in the Renaissance?",
    "Why is Michelangelo's David considered a masterpiece of Renaissance sculpture?",
    "How did Cubism change the way painters represented space?",
    "What should I look for when buying my first etching or woodcut print?",
    "How do I stop my watercolor paintings from looking muddy?",
    "What are the main characteristics of Surrealism and who were its leading artists?",
    "How did Japanese ukiyo-e prints influence Van Gogh?",
    "What makes Vermeer's use of light in Girl with a Pearl Earring so distinctive?",
    "Which museums in Madrid have the best collections of Spanish painting?",
    "How do conservators restore an oil painting with cracked varnish?",
};

static const char system_prompt[] =
    "You are an art historian and practising artist. Answer questions about the visual "
    "arts: periods and movements, artists and their works, media and techniques "
    "(painting, drawing, printmaking, sculpture, photography, ceramics), museums and the "
    "care of artworks. Stay on the medium and the period the question asks about: if it "
    "asks about Baroque sculpture, discuss Baroque sculpture, and bring in other periods "
    "or media only briefly, as an explicit comparison. Name the medium and the period you "
    "are discussing, give dates for artists and works, attribute works correctly, and say "
    "so when an attribution or date is uncertain or disputed. For practical technique "
    "questions give concrete steps and materials.";

/* ---- options ---- */

static const plmm_option_schema options[] = {
    {"drift", PLMM_OPT_ENUM, 0, "warn", 1, 0, "warn|fail",
     "an answer that talks more about another period or medium than the one asked is "
     "flagged (warn) or rejected (fail)"},
    {"year_slack", PLMM_OPT_INT, 0, "50", 0, 200, NULL,
     "years beyond a period's usual dates still counted as inside it"},
};

static plmm_status art_init(const plmm_host_api *host, const plmm_option_value *opts,
                            uint32_t n_opts, plmm_expert_ctx **out)
{
    plmm_expert_ctx *c = host->alloc(host->host_ctx, sizeof(*c), 16);
    if (c == NULL)
        return plmm_sdk_error(host, PLMM_ERR_NOMEM, "out of memory");
    memset(c, 0, sizeof(*c));
    c->host = host;
    c->drift_fails = false;
    c->year_slack = 50;
    const plmm_option_value *v = plmm_sdk_option(opts, n_opts, "drift");
    if (v != NULL)
        c->drift_fails = strcmp(v->v.s, "fail") == 0;
    if ((v = plmm_sdk_option(opts, n_opts, "year_slack")) != NULL)
        c->year_slack = (int)v->v.i;
    *out = c;
    return PLMM_OK;
}

static void art_shutdown(plmm_expert_ctx *ctx)
{
    if (ctx != NULL)
        ctx->host->free(ctx->host->host_ctx, ctx);
}

static const plmm_expert_vtbl vtbl = {
    .struct_size = sizeof(plmm_expert_vtbl),
    .abi_version = PLMM_ABI_VERSION(PLMM_EXPERT_ABI_MAJOR, PLMM_EXPERT_ABI_MINOR),
    .init = art_init,
    .shutdown = art_shutdown,
    .check = art_check,
};

static const plmm_expert_desc desc = {
    .struct_size = sizeof(plmm_expert_desc),
    .abi_major = PLMM_EXPERT_ABI_MAJOR,
    .abi_minor = PLMM_EXPERT_ABI_MINOR,
    .kind = PLMM_PLUGIN_EXPERT,
    .connectors = PLMM_EXPERT_CONNECTOR_LOCAL | PLMM_EXPERT_CONNECTOR_OPENAI,
    .name = "art",
    .version = "1.0.0",
    .summary = "visual arts: art history, movements, artists and works, media and techniques",
    .system_prompt = system_prompt,
    .examples = examples,
    .n_examples = sizeof(examples) / sizeof(examples[0]),
    .n_signals = sizeof(signals) / sizeof(signals[0]),
    .signals = signals,
    .options = options,
    .n_options = sizeof(options) / sizeof(options[0]),
    .vtbl = &vtbl,
};

PLMM_EXPORT const void *plmm_plugin_entry(void);

PLMM_EXPORT const void *plmm_plugin_entry(void)
{
    return &desc;
}
