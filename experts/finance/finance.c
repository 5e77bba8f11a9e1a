/*
 * The finance expert: personal finance, investing, markets, tax and
 * accounting. This file is the domain description (routing vocabulary,
 * examples, system prompt, options) and the plugin's lifecycle; the answer
 * check lives in finance_check.c.
 */
#include "finance.h"

#include "plmm_sdk.h"

#include <string.h>

/* ---- routing vocabulary ----
 * Weights: 3 = the word alone names the domain, 2 = strongly financial,
 * 1 to 1.5 = financial in context but common elsewhere ("interest",
 * "capital", "margin"). */
static const plmm_routing_signal signals[] = {
    /* investing */
    {"invest*", 2.5f, 0},
    {"stock market", 3.0f, 0},
    {"stocks", 2.0f, 0},
    {"stock", 1.0f, 0},
    {"shares", 1.5f, 0},
    {"shareholder*", 2.5f, 0},
    {"bond", 1.0f, 0},
    {"bonds", 2.0f, 0},
    {"etf", 3.0f, 0},
    {"etfs", 3.0f, 0},
    {"index fund*", 3.0f, 0},
    {"mutual fund*", 3.0f, 0},
    {"hedge fund*", 3.0f, 0},
    {"dividend*", 3.0f, 0},
    {"capital gain*", 3.0f, 0},
    {"portfolio*", 1.5f, 0},
    {"diversif*", 2.0f, 0},
    {"asset allocation", 3.0f, 0},
    {"rebalanc*", 2.5f, 0},
    {"brokerage", 3.0f, 0},
    {"broker", 2.0f, 0},
    {"expense ratio*", 3.0f, 0},
    {"s p 500", 3.0f, 0},
    {"nasdaq", 3.0f, 0},
    {"dow jones", 3.0f, 0},
    {"bear market", 3.0f, 0},
    {"bull market", 3.0f, 0},
    {"volatil*", 1.5f, 0},
    {"options trading", 3.0f, 0},
    {"call option*", 3.0f, 0},
    {"put option*", 3.0f, 0},
    {"day trading", 3.0f, 0},
    {"short selling", 3.0f, 0},
    {"yield*", 1.5f, 0},
    {"treasury", 2.0f, 0},
    {"treasuries", 3.0f, 0},
    {"p e ratio", 3.0f, 0},
    {"valuation", 1.5f, 0},
    {"market cap*", 3.0f, 0},
    {"ipo", 3.0f, 0},
    {"reit*", 3.0f, 0},
    {"crypto*", 2.5f, 0},
    {"bitcoin", 3.0f, 0},
    {"ethereum", 3.0f, 0},
    {"gold price*", 2.5f, 0},
    {"robo advisor*", 3.0f, 0},
    {"financial advisor*", 3.0f, 0},
    {"fiduciary", 3.0f, 0},
    {"dollar cost averaging", 3.0f, 0},
    /* saving, retirement, banking */
    {"retire*", 2.0f, 0},
    {"pension*", 2.5f, 0},
    {"401 k", 3.0f, 0},
    {"401k", 3.0f, 0},
    {"roth", 3.0f, 0},
    {"ira", 2.5f, 0},
    {"annuit*", 3.0f, 0},
    {"savings", 2.0f, 0},
    {"saving money", 3.0f, 0},
    {"save money", 2.5f, 0},
    {"savings account*", 3.0f, 0},
    {"emergency fund", 3.0f, 0},
    {"compound interest", 3.0f, 0},
    {"interest rate*", 2.0f, 0},
    {"interest", 1.0f, 0},
    {"apr", 2.5f, 0},
    {"apy", 3.0f, 0},
    {"inflation", 2.0f, 0},
    {"bank*", 1.5f, 0},
    {"deposit*", 1.5f, 0},
    {"certificate of deposit", 3.0f, 0},
    {"net worth", 3.0f, 0},
    {"money", 1.5f, 0},
    {"budget", 1.0f, 0},
    {"budgeting", 2.0f, 0},
    {"monthly budget", 2.5f, 0},
    {"salary", 1.5f, 0},
    {"paycheck", 2.0f, 0},
    {"income", 1.5f, 0},
    {"expenses", 1.5f, 0},
    {"spending", 1.0f, 0},
    {"financial*", 2.0f, 0},
    {"finance*", 2.0f, 0},
    {"wealth", 2.0f, 0},
    /* debt and credit */
    {"loan*", 2.0f, 0},
    {"mortgage*", 2.5f, 0},
    {"refinanc*", 3.0f, 0},
    {"down payment", 3.0f, 0},
    {"amortiz*", 3.0f, 0},
    {"debt*", 2.0f, 0},
    {"credit score*", 3.0f, 0},
    {"credit card*", 2.0f, 0},
    {"credit", 1.0f, 0},
    {"overdraft", 3.0f, 0},
    {"lease", 1.0f, 0},
    {"rent or buy", 2.0f, 0},
    /* tax and accounting */
    {"tax", 1.5f, 0},
    {"taxes", 2.0f, 0},
    {"taxable", 2.5f, 0},
    {"tax return", 3.0f, 0},
    {"deduct*", 1.5f, 0},
    {"vat", 2.0f, 0},
    {"accounting", 2.0f, 0},
    {"accountant", 2.0f, 0},
    {"balance sheet", 3.0f, 0},
    {"income statement", 3.0f, 0},
    {"cash flow", 2.5f, 0},
    {"depreciation", 2.0f, 0},
    {"revenue", 1.5f, 0},
    {"profit*", 1.5f, 0},
    {"earnings", 1.5f, 0},
    {"ebitda", 3.0f, 0},
    {"invoice*", 1.5f, 0},
    {"equity", 1.5f, 0},
    {"roi", 2.0f, 0},
    {"return on investment", 3.0f, 0},
    {"insurance", 1.5f, 0},
    {"premium*", 1.0f, 0},
    {"forex", 3.0f, 0},
    {"exchange rate*", 2.5f, 0},
    {"currency", 1.5f, 0},
    {"euros", 1.0f, 0},
    {"dollars", 1.0f, 0},
    {"fees", 1.0f, 0},
    {"recession", 2.0f, 0},
    {"central bank*", 3.0f, 0},
    {"federal reserve", 3.0f, 0},
};

static const char *const examples[] = {
    "Should I pay off my student loan early or invest the extra money in an index fund?",
    "How does compound interest work on a savings account with 4% APY?",
    "What is the difference between a Roth IRA and a traditional 401(k)?",
    "How much of my portfolio should be in bonds if I retire in ten years?",
    "Is it better to rent or buy a home when mortgage rates are around 7%?",
    "What does an expense ratio of 0.2% cost me on a 50,000 dollar investment per year?",
    "How are capital gains on stocks taxed when I sell after two years?",
    "How do I build a monthly budget and an emergency fund on a 3,000 salary?",
    "What happens to bond prices when the central bank raises interest rates?",
    "How do I read a company's balance sheet and cash flow statement?",
    "Is dollar cost averaging into an S&P 500 ETF a good strategy?",
    "How does refinancing a mortgage change the total interest I pay?",
};

static const char system_prompt[] =
    "You are a careful personal-finance and investing expert. Answer the user's question "
    "about money, saving, investing, debt, tax or accounting clearly and concretely. "
    "When you use numbers, show the calculation step by step (for example "
    "\"10,000 x 1.05 = 10,500\") and make sure every stated result is arithmetically "
    "correct; percentages of an allocation must add up to 100%. Explain the trade-offs "
    "and the assumptions (rates, time horizon, fees, taxes) instead of giving a single "
    "recommendation, say when the answer depends on the user's country or tax rules, and "
    "do not invent figures you do not know. End every answer with a short risk "
    "disclaimer: this is general information, not financial advice; investments can "
    "lose value and past performance does not guarantee future results.";

/* ---- options ---- */

static const plmm_option_schema options[] = {
    {"disclaimer", PLMM_OPT_ENUM, 0, "required", 1, 0, "required|warn|off",
     "an answer without a risk disclaimer fails (required), is flagged (warn) or passes (off)"},
    {"tolerance", PLMM_OPT_FLOAT, 0, "0.01", 0, 0.5, NULL,
     "relative error allowed in the calculations an answer states (0.01 = 1%)"},
};

static plmm_status finance_init(const plmm_host_api *host, const plmm_option_value *opts,
                                uint32_t n_opts, plmm_expert_ctx **out)
{
    plmm_expert_ctx *c = host->alloc(host->host_ctx, sizeof(*c), 16);
    if (c == NULL)
        return plmm_sdk_error(host, PLMM_ERR_NOMEM, "out of memory");
    memset(c, 0, sizeof(*c));
    c->host = host;
    c->disclaimer = FINANCE_DISCLAIMER_REQUIRED;
    c->tolerance = 0.01;
    const plmm_option_value *v = plmm_sdk_option(opts, n_opts, "disclaimer");
    if (v != NULL && strcmp(v->v.s, "warn") == 0)
        c->disclaimer = FINANCE_DISCLAIMER_WARN;
    else if (v != NULL && strcmp(v->v.s, "off") == 0)
        c->disclaimer = FINANCE_DISCLAIMER_OFF;
    if ((v = plmm_sdk_option(opts, n_opts, "tolerance")) != NULL)
        c->tolerance = v->v.f;
    *out = c;
    return PLMM_OK;
}

static void finance_shutdown(plmm_expert_ctx *ctx)
{
    if (ctx != NULL)
        ctx->host->free(ctx->host->host_ctx, ctx);
}

static const plmm_expert_vtbl vtbl = {
    .struct_size = sizeof(plmm_expert_vtbl),
    .abi_version = PLMM_ABI_VERSION(PLMM_EXPERT_ABI_MAJOR, PLMM_EXPERT_ABI_MINOR),
    .init = finance_init,
    .shutdown = finance_shutdown,
    .check = finance_check,
};

static const plmm_expert_desc desc = {
    .struct_size = sizeof(plmm_expert_desc),
    .abi_major = PLMM_EXPERT_ABI_MAJOR,
    .abi_minor = PLMM_EXPERT_ABI_MINOR,
    .kind = PLMM_PLUGIN_EXPERT,
    .connectors = PLMM_EXPERT_CONNECTOR_LOCAL | PLMM_EXPERT_CONNECTOR_OPENAI,
    .name = "finance",
    .version = "1.0.0",
    .summary = "personal finance, investing, markets, retirement, debt, tax and accounting",
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
