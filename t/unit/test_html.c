/*
 * test_html.c - html_to_text: entities, paragraphs, lists, links,
 * dropped script/style, and hostile input (deep nesting, invalid
 * UTF-8, garbage) that must still give valid one-piece UTF-8 text.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "html.h"
#include "utf8.h"

/* Converts a C string; fails the test on NULL. */
static char *
text(const char *h)
{
	char *t = html_to_text(h, strlen(h));

	assert_non_null(t);
	return t;
}

#define EXPECT(html, want) do {				\
	char *t_ = text(html);				\
	assert_string_equal(t_, want);			\
	free(t_);					\
} while (0)

/* Valid UTF-8 and no control characters but LF. */
static void
assert_clean(const char *t, size_t n)
{
	size_t i;

	assert_int_equal(strlen(t), n);
	assert_true(utf8_valid(t, n));
	for (i = 0; i < n; i++)
		assert_true((unsigned char)t[i] >= 0x20 || t[i] == '\n' ||
		    t[i] == '\t');
}

static void
test_entities(void **state)
{
	EXPECT("<p>Caf&eacute; &mdash; 5&euro; &amp; &lt;b&gt; &pound;"
	    "&#233;&#x263A;&nbsp;x</p>",
	    "Caf\xc3\xa9 \xe2\x80\x94 5\xe2\x82\xac & <b> \xc2\xa3"
	    "\xc3\xa9\xe2\x98\xba x");
}

static void
test_paragraphs(void **state)
{
	EXPECT("<p>One\n  two</p><p>Three</p>Four<br>Five<div>Six</div>",
	    "One two\n\nThree\n\nFour\nFive\nSix");
	EXPECT("<h1>Title</h1><p>Body</p>", "Title\n\nBody");
}

static void
test_lists(void **state)
{
	EXPECT("<p>Items:</p><ul><li>apple</li><li>pear</li></ul><p>end</p>",
	    "Items:\n\n- apple\n- pear\n\nend");
	EXPECT("<ol><li>first<li>second</ol>", "1. first\n2. second");
	EXPECT("<ol start=\"3\"><li>c</li></ol>", "3. c");
	EXPECT("<ul><li>a<ol><li>b</li></ol></li></ul>", "- a\n  1. b");
}

static void
test_links(void **state)
{
	EXPECT("<p>See <a href=\"https://x.example/o/1\">your order</a>.</p>",
	    "See your order (https://x.example/o/1).");
	EXPECT("<a href=\"https://x.example\">https://x.example</a>",
	    "https://x.example");
	EXPECT("<a href=\"https://x.example\"><img src=\"i.png\"></a>",
	    "https://x.example");
	EXPECT("<a href=\"#top\">top</a> <a href=\"javascript:x()\">js</a>",
	    "top js");
}

static void
test_dropped(void **state)
{
	EXPECT("<html><head><title>T</title><style>p{color:red}</style>"
	    "</head><body><script>alert('</p>')</script>Hi"
	    "<script>x<y</script></body></html>", "Hi");
}

static void
test_empty(void **state)
{
	EXPECT("", "");
	EXPECT("   \n\t ", "");
	EXPECT("<p></p><br><br>", "");
}

/* 200,000 open tags of each kind: no stack overflow, text kept. */
static void
test_deep_nesting(void **state)
{
	static const char *const tags[] = { "<div>", "<ul><li>", "<b>",
	    "<a href=\"u\">", "<ol><li>" };
	size_t i, k, n = 200000, len;
	char *h, *t, *o;

	for (k = 0; k < sizeof(tags) / sizeof(tags[0]); k++) {
		len = strlen(tags[k]);
		h = malloc(n * len + 16);
		assert_non_null(h);
		for (o = h, i = 0; i < n; i++, o += len)
			memcpy(o, tags[k], len);
		strcpy(o, "deep");
		t = html_to_text(h, strlen(h));
		assert_non_null(t);
		assert_clean(t, strlen(t));
		free(t);
		free(h);
	}
}

static void
test_invalid_utf8(void **state)
{
	static const char h[] = "<p>a\xff\xfe b \xc3\x28 c \xed\xa0\x80 d "
	    "\xf4\x90\x80\x80 &#xD800; &#0; &#x110000;</p>";
	char *t = html_to_text(h, sizeof(h) - 1);

	assert_non_null(t);
	assert_clean(t, strlen(t));
	assert_non_null(strstr(t, "a"));
	free(t);
}

/* Random bytes without NUL, and tag soup: valid text, never a crash. */
static void
test_garbage(void **state)
{
	static const char *const soup[] = { "<", ">", "&", ";", "<a href=",
	    "</", "<!--", "-->", "<![CDATA[", "]]>", "<script>", "</li>",
	    "<ol>", "&#x", "\"", "'", "<p", "\xe2\x82", "\xac", "<br/>" };
	char buf[4096], *t;
	unsigned seed = 12;
	size_t n, i;
	int round;

	for (round = 0; round < 300; round++) {
		for (n = 0; n + 16 < sizeof(buf);) {
			seed = seed * 1103515245u + 12345u;
			if (round % 2) {
				buf[n++] = (char)(1 + (seed >> 16) % 255);
				continue;
			}
			i = (seed >> 16) % (sizeof(soup) / sizeof(soup[0]));
			memcpy(buf + n, soup[i], strlen(soup[i]));
			n += strlen(soup[i]);
		}
		buf[n] = '\0';
		t = html_to_text(buf, n);
		assert_non_null(t);
		assert_clean(t, strlen(t));
		free(t);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entities),
		cmocka_unit_test(test_paragraphs),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_links),
		cmocka_unit_test(test_dropped),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
