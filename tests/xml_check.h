/*
 * tests/xml_check.h — a tiny XML well-formedness checker for tests.
 */
#ifndef HQ_TEST_XML_CHECK_H
#define HQ_TEST_XML_CHECK_H

/* Checks that tags nest and close in order, attribute values are quoted and contain no
 * '<', text has no bare '&', and there is exactly one root element. Returns NULL if the
 * document is fine, else a description (static buffer). */
const char *hq_test_xml_check(const char *s);

#endif /* HQ_TEST_XML_CHECK_H */
