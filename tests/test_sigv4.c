/*
 * tests/test_sigv4.c — backends/sigv4 against published AWS Signature Version 4 vectors.
 *
 * Provenance of the expected values (copied, never computed here):
 *   - suite[]: AWS's SigV4 test suite (the "aws-sig-v4-test-suite", credentials
 *     AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, region us-east-1, service
 *     "service", 2015-08-30T12:36:00Z) as carried by awslabs/aws-c-auth,
 *     tests/aws-signing-test-suite/v4/<name>/{request.txt, header-canonical-request.txt,
 *     header-string-to-sign.txt, header-signature.txt} (commit 495329c). The request line's
 *     path is given raw there, so it is passed as the wire path.
 *   - double encoding of an already-encoded path (non-S3 services): the 2011 edition of
 *     the suite as kept by boto/botocore, tests/unit/auth/aws4_testsuite/get-utf8.* and
 *     get-space.* (service "host", Date header, 20110909T233600Z).
 *   - S3: the worked examples of the Amazon S3 API Reference, "Signature Calculations for
 *     the Authorization Header" (sig-v4-header-based-auth: GET Object with Range, PUT
 *     Object, GET Bucket lifecycle, GET Bucket list objects; AKIAIOSFODNN7EXAMPLE /
 *     wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, 20130524T000000Z).
 */
#include <string.h>

#include "backends/sigv4.h"
#include "tests/hq_test.h"

typedef struct vec {
    const char *name;
    const char *method, *path, *query;
    hq_http_header headers[4];
    int n_headers;
    const char *body;
    const char *token;
    bool sign_body;
    const char *creq, *sts, *sig;
} vec;

static const vec suite[] = {
    {"get-vanilla",
     "GET",
     "/",
     "",
     {{NULL, NULL}},
     0,
     NULL,
     NULL,
     false,
     "GET\n/"
     "\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
     "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-vanilla-query",
     "GET",
     "/",
     "",
     {{NULL, NULL}},
     0,
     NULL,
     NULL,
     false,
     "GET\n/"
     "\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
     "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-vanilla-empty-query-key",
     "GET",
     "/",
     "Param1=value1",
     {{NULL, NULL}},
     0,
     NULL,
     NULL,
     false,
     "GET\n/"
     "\nParam1=value1\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
     "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\n1e24db194ed7d0eec2de28d7369675a243488e08526e8c1c73571282f7c517ab",
     "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"},
    {"get-vanilla-query-order-key-case",
     "GET",
     "/",
     "Param2=value2&Param1=value1",
     {{NULL, NULL}},
     0,
     NULL,
     NULL,
     false,
     "GET\n/"
     "\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:"
     "20150830T123600Z\n\nhost;x-amz-"
     "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\n816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
    {"get-vanilla-query-order-encoded",
     "GET",
     "/",
     "Param-3=Value3&Param=Value2&%E1%88%B4=Value1",
     {{NULL, NULL}},
     0,
     NULL,
     NULL,
     false,
     "GET\n/"
     "\n%E1%88%B4=Value1&Param=Value2&Param-3=Value3\nhost:example.amazonaws.com\nx-amz-date:"
     "20150830T123600Z\n\nhost;x-amz-"
     "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\n868294f5c38bd141c4972a373a76654f1418a8e4fc18b2e7903ae45e8ae0ec71",
     "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac"},
    {"get-vanilla-query-unreserved",
     "GET",
     "/",
     "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~"
     "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
     {{NULL, NULL}},
     0,
     NULL,
     NULL,
     false,
     "GET\n/"
     "\n-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~"
     "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\nhost:example.amazonaws."
     "com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
     "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\nc30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177",
     "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
    {"get-vanilla-utf8-query",
     "GET",
     "/",
     "\xe1"
     "\x88"
     "\xb4"
     "=bar",
     {{NULL, NULL}},
     0,
     NULL,
     NULL,
     false,
     "GET\n/"
     "\n%E1%88%B4=bar\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
     "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\neb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073",
     "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
    {"get-unreserved",
     "GET",
     "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
     "",
     {{NULL, NULL}},
     0,
     NULL,
     NULL,
     false,
     "GET\n/"
     "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n\nhost:example.amazonaws."
     "com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
     "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\n6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9",
     "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
    {"get-utf8",
     "GET",
     "/\xe1"
     "\x88"
     "\xb4"
     "",
     "",
     {{NULL, NULL}},
     0,
     NULL,
     NULL,
     false,
     "GET\n/"
     "%E1%88%B4\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
     "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\n2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102",
     "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
    {"get-space-normalized",
     "GET",
     "/example space/",
     "",
     {{NULL, NULL}},
     0,
     NULL,
     NULL,
     false,
     "GET\n/example%20space/"
     "\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
     "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\n63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86",
     "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
    {"get-header-key-duplicate",
     "GET",
     "/",
     "",
     {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}},
     3,
     NULL,
     NULL,
     false,
     "GET\n/"
     "\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\nx-amz-date:"
     "20150830T123600Z\n\nhost;my-header1;x-amz-"
     "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\ndc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c",
     "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
    {"get-header-value-order",
     "GET",
     "/",
     "",
     {{"My-Header1", "value4"},
      {"My-Header1", "value1"},
      {"My-Header1", "value3"},
      {"My-Header1", "value2"}},
     4,
     NULL,
     NULL,
     false,
     "GET\n/"
     "\n\nhost:example.amazonaws.com\nmy-header1:value4,value1,value3,value2\nx-amz-date:"
     "20150830T123600Z\n\nhost;my-header1;x-amz-"
     "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\n31ce73cd3f3d9f66977ad3dd957dc47af14df92fcd8509f59b349e9137c58b86",
     "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"},
    {"get-header-value-trim",
     "GET",
     "/",
     "",
     {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}},
     2,
     NULL,
     NULL,
     false,
     "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b "
     "c\"\nx-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-"
     "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\na726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7",
     "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
    {"get-relative-normalized",
     "GET",
     "/example/..",
     "",
     {{NULL, NULL}},
     0,
     NULL,
     NULL,
     false,
     "GET\n/"
     "\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
     "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-relative-relative-normalized",
     "GET",
     "/example1/example2/../..",
     "",
     {{NULL, NULL}},
     0,
     NULL,
     NULL,
     false,
     "GET\n/"
     "\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
     "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-slash-normalized",
     "GET",
     "//",
     "",
     {{NULL, NULL}},
     0,
     NULL,
     NULL,
     false,
     "GET\n/"
     "\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
     "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-slash-dot-slash-normalized",
     "GET",
     "/./",
     "",
     {{NULL, NULL}},
     0,
     NULL,
     NULL,
     false,
     "GET\n/"
     "\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
     "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-slash-pointless-dot-normalized",
     "GET",
     "/./example",
     "",
     {{NULL, NULL}},
     0,
     NULL,
     NULL,
     false,
     "GET\n/"
     "example\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
     "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\n214d50c111a8edc4819da6a636336472c916b5240f51e9a51b5c3305180cf702",
     "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5"},
    {"get-slashes-normalized",
     "GET",
     "//example//",
     "",
     {{NULL, NULL}},
     0,
     NULL,
     NULL,
     false,
     "GET\n/example/"
     "\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
     "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\ncb96b4ac96d501f7c5c15bc6d67b3035061cfced4af6585ad927f7e6c985c015",
     "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"},
    {"post-vanilla",
     "POST",
     "/",
     "",
     {{NULL, NULL}},
     0,
     NULL,
     NULL,
     false,
     "POST\n/"
     "\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
     "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\n553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
     "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
    {"post-vanilla-query",
     "POST",
     "/",
     "Param1=value1",
     {{NULL, NULL}},
     0,
     NULL,
     NULL,
     false,
     "POST\n/"
     "\nParam1=value1\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
     "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\n9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd",
     "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
    {"post-vanilla-empty-query-value",
     "POST",
     "/",
     "Param1=value1",
     {{NULL, NULL}},
     0,
     NULL,
     NULL,
     false,
     "POST\n/"
     "\nParam1=value1\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
     "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\n9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd",
     "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
    {"post-header-key-case",
     "POST",
     "/",
     "",
     {{NULL, NULL}},
     0,
     NULL,
     NULL,
     false,
     "POST\n/"
     "\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-"
     "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\n553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
     "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
    {"post-header-key-sort",
     "POST",
     "/",
     "",
     {{"My-Header1", "value1"}},
     1,
     NULL,
     NULL,
     false,
     "POST\n/"
     "\n\nhost:example.amazonaws.com\nmy-header1:value1\nx-amz-date:20150830T123600Z\n\nhost;my-"
     "header1;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\n9368318c2967cf6de74404b30c65a91e8f6253e0a8659d6d5319f1a812f87d65",
     "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"},
    {"post-header-value-case",
     "POST",
     "/",
     "",
     {{"My-Header1", "VALUE1"}},
     1,
     NULL,
     NULL,
     false,
     "POST\n/"
     "\n\nhost:example.amazonaws.com\nmy-header1:VALUE1\nx-amz-date:20150830T123600Z\n\nhost;my-"
     "header1;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\nd51ced243e649e3de6ef63afbbdcbca03131a21a7103a1583706a64618606a93",
     "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
    {"post-x-www-form-urlencoded",
     "POST",
     "/",
     "",
     {{"Content-Type", "application/x-www-form-urlencoded"}, {"Content-Length", "13"}},
     2,
     "Param1=value1",
     NULL,
     true,
     "POST\n/\n\ncontent-length:13\ncontent-type:application/"
     "x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-content-sha256:"
     "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\nx-amz-date:"
     "20150830T123600Z\n\ncontent-length;content-type;host;x-amz-content-sha256;x-amz-"
     "date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\nb1edd1d03544c25390e32085d55b57acc9a3961bb59415ff86c45c3d89d16cfb",
     "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b"},
    {"post-x-www-form-urlencoded-parameters",
     "POST",
     "/",
     "",
     {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
      {"Content-Length", "13"}},
     2,
     "Param1=value1",
     NULL,
     true,
     "POST\n/\n\ncontent-length:13\ncontent-type:application/x-www-form-urlencoded; "
     "charset=utf-8\nhost:example.amazonaws.com\nx-amz-content-sha256:"
     "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\nx-amz-date:"
     "20150830T123600Z\n\ncontent-length;content-type;host;x-amz-content-sha256;x-amz-"
     "date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\na89f1a5b53e37702ee6363ce1da3ce8f54386f3c8f352ae652153c2982a0bc4d",
     "328d1b9eaadca9f5818ef05e8392801e091653bafec24fcab71e7344e7f51422"},
    {"get-vanilla-with-session-token",
     "GET",
     "/",
     "",
     {{NULL, NULL}},
     0,
     NULL,
     "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267",
     false,
     "GET\n/"
     "\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\nx-amz-security-token:"
     "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267\n\nhost;x-amz-date;x-amz-"
     "security-token\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\n067b36aa60031588cea4a4cde1f21215227a047690c72247f1d70b32fbbfad2b",
     "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"},
    {"post-sts-header-before",
     "POST",
     "/",
     "",
     {{NULL, NULL}},
     0,
     NULL,
     "AQoDYXdzEPT//////////"
     "wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthA"
     "x7mSEI/qkPpKPi/"
     "kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHN"
     "VXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+"
     "scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==",
     false,
     "POST\n/"
     "\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\nx-amz-security-token:"
     "AQoDYXdzEPT//////////"
     "wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthA"
     "x7mSEI/qkPpKPi/"
     "kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHN"
     "VXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+"
     "scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/"
     "oLxBA==\n\nhost;x-amz-date;x-amz-security-"
     "token\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/"
     "aws4_request\nc237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6",
     "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"},
};

HQ_TEST(sigv4_aws_test_suite) {
    hq_sigv4_creds cr = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL};
    for (size_t i = 0; i < HQ_ARRAY_LEN(suite); i++) {
        const vec *v = &suite[i];
        cr.session_token = v->token;
        hq_sigv4_request rq = {.method = v->method,
                               .host = "example.amazonaws.com",
                               .path = v->path,
                               .query = v->query,
                               .headers = v->headers,
                               .n_headers = v->n_headers,
                               .body = v->body,
                               .body_len = v->body ? strlen(v->body) : 0,
                               .region = "us-east-1",
                               .service = "service",
                               .amz_date = "20150830T123600Z",
                               .content_sha256_header = v->sign_body};
        hq_sigv4_signed sg;
        hq_status st = hq_sigv4_sign(&cr, &rq, &sg);
        HQ_CHECKF(st == HQ_OK, "%s: %s", v->name, hq_last_error());
        if (st != HQ_OK) continue;
        HQ_CHECKF(!strcmp(sg.canonical_request, v->creq), "%s: canonical request\n%s\n--- want\n%s",
                  v->name, sg.canonical_request, v->creq);
        HQ_CHECKF(!strcmp(sg.string_to_sign, v->sts), "%s: string to sign\n%s", v->name,
                  sg.string_to_sign);
        HQ_CHECKF(!strcmp(sg.signature, v->sig), "%s: signature %s", v->name, sg.signature);
        char want[512];
        snprintf(want, sizeof want,
                 "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
                 "aws4_request, SignedHeaders=%s, Signature=%s",
                 sg.signed_headers, v->sig);
        HQ_CHECK_STR(sg.authorization, want);
        /* the headers to add: X-Amz-Date [, token] [, content sha] , Authorization */
        HQ_CHECK_STR(sg.headers[0].name, "X-Amz-Date");
        HQ_CHECK_STR(sg.headers[0].value, "20150830T123600Z");
        HQ_CHECK_STR(sg.headers[sg.n_headers - 1].name, "Authorization");
        HQ_CHECK_EQ_INT(sg.n_headers, 2 + (v->token != NULL) + v->sign_body);
        hq_sigv4_signed_free(&sg);
    }
}

HQ_TEST(sigv4_double_encoding_botocore) {
    /* boto/botocore tests/unit/auth/aws4_testsuite, 2011 edition: the request path arrives
     * percent-encoded ("/%E1%88%B4", "/%20/foo") and is encoded again for the canonical URI */
    hq_sigv4_creds cr = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL};
    hq_http_header date[] = {{"Date", "Mon, 09 Sep 2011 23:36:00 GMT"}};
    struct {
        const char *path, *creq, *sts, *authz;
    } v[] = {
        {"/%E1%88%B4",
         "GET\n/%25E1%2588%25B4\n\ndate:Mon, 09 Sep 2011 23:36:00 GMT\nhost:host.foo.com\n\n"
         "date;host\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         "AWS4-HMAC-SHA256\n20110909T233600Z\n20110909/us-east-1/host/aws4_request\n"
         "47f4456c465167f4db3490a68903fe057412e6e030de38f71d9006467eb4922a",
         "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20110909/us-east-1/host/aws4_request, "
         "SignedHeaders=date;host, "
         "Signature=57b1eb3df3b16a8479c0097b66c0b261cfd65b829419a3f2c3d05319722490b8"},
        {"/%20/foo",
         "GET\n/%2520/foo\n\ndate:Mon, 09 Sep 2011 23:36:00 GMT\nhost:host.foo.com\n\n"
         "date;host\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         "AWS4-HMAC-SHA256\n20110909T233600Z\n20110909/us-east-1/host/aws4_request\n"
         "35975885599128f8963ce9be7219598b2b5a344321bae304529556c891e9e6ba",
         "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20110909/us-east-1/host/aws4_request, "
         "SignedHeaders=date;host, "
         "Signature=2be9e587d1ee1f0fd02128724b86b4358ba3630d39f493b6e06610a19a50779e"},
    };
    for (size_t i = 0; i < HQ_ARRAY_LEN(v); i++) {
        hq_sigv4_request rq = {.method = "GET",
                               .host = "host.foo.com",
                               .path = v[i].path,
                               .headers = date,
                               .n_headers = 1,
                               .region = "us-east-1",
                               .service = "host",
                               .amz_date = "20110909T233600Z"};
        hq_sigv4_signed sg;
        HQ_REQUIRE_OK(hq_sigv4_sign(&cr, &rq, &sg));
        HQ_CHECK_STR(sg.canonical_request, v[i].creq);
        HQ_CHECK_STR(sg.string_to_sign, v[i].sts);
        HQ_CHECK_STR(sg.authorization, v[i].authz);
        /* a Date header was given: no X-Amz-Date is added */
        HQ_CHECK_EQ_INT(sg.n_headers, 1);
        hq_sigv4_signed_free(&sg);
    }
}

HQ_TEST(sigv4_s3_documentation_examples) {
    /* Amazon S3 API Reference, sig-v4-header-based-auth examples */
    hq_sigv4_creds cr = {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", NULL};
    const char *host = "examplebucket.s3.amazonaws.com";
    hq_sigv4_signed sg;
    /* GET Object with a Range header */
    hq_http_header range[] = {{"Range", "bytes=0-9"}};
    hq_sigv4_request rq = {.method = "GET",
                           .host = host,
                           .path = "/test.txt",
                           .headers = range,
                           .n_headers = 1,
                           .region = "us-east-1",
                           .service = "s3",
                           .amz_date = "20130524T000000Z",
                           .s3 = true};
    HQ_REQUIRE_OK(hq_sigv4_sign(&cr, &rq, &sg));
    HQ_CHECK_STR(sg.canonical_request,
                 "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
                 "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b78"
                 "52b855\nx-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-"
                 "date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    HQ_CHECK_STR(sg.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    HQ_CHECK_EQ_INT(sg.n_headers, 3); /* X-Amz-Date, x-amz-content-sha256, Authorization */
    HQ_CHECK_STR(sg.headers[1].name, "x-amz-content-sha256");
    hq_sigv4_signed_free(&sg);
    /* PUT Object (Date and X-Amz-Date both sent; '$' encoded once in the key) */
    hq_http_header put[] = {{"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                            {"x-amz-date", "20130524T000000Z"},
                            {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
    const char *welcome = "Welcome to Amazon S3.";
    rq = (hq_sigv4_request){.method = "PUT",
                            .host = host,
                            .path = "/test%24file.text",
                            .headers = put,
                            .n_headers = 3,
                            .body = welcome,
                            .body_len = strlen(welcome),
                            .region = "us-east-1",
                            .service = "s3",
                            .amz_date = "20130524T000000Z",
                            .s3 = true};
    HQ_REQUIRE_OK(hq_sigv4_sign(&cr, &rq, &sg));
    HQ_CHECK_STR(sg.content_sha256,
                 "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    HQ_CHECK_STR(sg.signature, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
    hq_sigv4_signed_free(&sg);
    /* GET Bucket lifecycle (a query name without value) */
    rq = (hq_sigv4_request){.method = "GET",
                            .host = host,
                            .path = "/",
                            .query = "lifecycle",
                            .region = "us-east-1",
                            .service = "s3",
                            .amz_date = "20130524T000000Z",
                            .s3 = true};
    HQ_REQUIRE_OK(hq_sigv4_sign(&cr, &rq, &sg));
    HQ_CHECK_STR(sg.signature, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    hq_sigv4_signed_free(&sg);
    /* GET Bucket (list objects), query given out of order */
    rq.query = "prefix=J&max-keys=2";
    HQ_REQUIRE_OK(hq_sigv4_sign(&cr, &rq, &sg));
    HQ_CHECK_STR(sg.signature, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    hq_sigv4_signed_free(&sg);
}

HQ_TEST(sigv4_braket_arn_path) {
    /* A Braket ARN in a path label is percent-encoded once on the wire (botocore's
     * percent_encode with the unreserved set) and once more in the canonical URI. */
    const char *arn = "arn:aws:braket:us-east-1:123456789012:quantum-task/0b3e-41c2";
    hq_sbuf path = HQ_SBUF_INIT;
    hq_sbuf_puts(&path, "/quantum-task/");
    hq_http_url_encode(&path, arn, NULL);
    HQ_CHECK_STR(path.p,
                 "/quantum-task/arn%3Aaws%3Abraket%3Aus-east-1%3A123456789012%3Aquantum-task%2F"
                 "0b3e-41c2");
    hq_sigv4_creds cr = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "tok123"};
    hq_sigv4_request rq = {.method = "GET",
                           .host = "braket.us-east-1.amazonaws.com",
                           .path = path.p,
                           .region = "us-east-1",
                           .service = "braket",
                           .amz_date = "20250101T000000Z"};
    hq_sigv4_signed sg;
    HQ_REQUIRE_OK(hq_sigv4_sign(&cr, &rq, &sg));
    const char *want = "GET\n/quantum-task/arn%253Aaws%253Abraket%253Aus-east-1%253A123456789012"
                       "%253Aquantum-task%252F0b3e-41c2\n\nhost:braket.us-east-1.amazonaws.com\n"
                       "x-amz-date:20250101T000000Z\nx-amz-security-token:tok123\n\n";
    HQ_CHECKF(strncmp(sg.canonical_request, want, strlen(want)) == 0, "%s", sg.canonical_request);
    HQ_CHECK_STR(sg.signed_headers, "host;x-amz-date;x-amz-security-token");
    HQ_CHECK(strstr(sg.authorization, "Credential=AKIDEXAMPLE/20250101/us-east-1/braket/"
                                      "aws4_request, SignedHeaders=host;x-amz-date;x-amz-"
                                      "security-token, Signature=") == sg.authorization + 17);
    HQ_CHECK_STR(sg.headers[1].name, "X-Amz-Security-Token");
    HQ_CHECK_STR(sg.headers[1].value, "tok123");
    /* signing is deterministic and the secret matters */
    char sig1[65];
    memcpy(sig1, sg.signature, 65);
    hq_sigv4_signed_free(&sg);
    cr.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ";
    HQ_REQUIRE_OK(hq_sigv4_sign(&cr, &rq, &sg));
    HQ_CHECK(strcmp(sig1, sg.signature) != 0);
    hq_sigv4_signed_free(&sg);
    /* current time when no date is given */
    rq.amz_date = NULL;
    HQ_REQUIRE_OK(hq_sigv4_sign(&cr, &rq, &sg));
    HQ_CHECK_EQ_INT(strlen(sg.amz_date), 16);
    HQ_CHECK(sg.amz_date[8] == 'T' && sg.amz_date[15] == 'Z');
    hq_sigv4_signed_free(&sg);
    hq_sbuf_free(&path);
}

HQ_TEST(sigv4_bad_arguments) {
    hq_sigv4_creds cr = {"AKID", "secret", NULL};
    hq_sigv4_request rq = {.method = "GET",
                           .host = "h",
                           .path = "/",
                           .region = "r",
                           .service = "s",
                           .amz_date = "20150830T123600Z"};
    hq_sigv4_signed sg;
    HQ_CHECK_OK(hq_sigv4_sign(&cr, &rq, &sg));
    hq_sigv4_signed_free(&sg);
    hq_sigv4_creds nocr = {"AKID", "", NULL};
    HQ_CHECK_FAILS(hq_sigv4_sign(&nocr, &rq, &sg), HQ_ERR_INVALID_ARG,
                   "need an access key id and a secret access key");
    HQ_CHECK(sg.authorization == NULL);
    rq.path = "quantum-task";
    HQ_CHECK_FAILS(hq_sigv4_sign(&cr, &rq, &sg), HQ_ERR_INVALID_ARG,
                   "path 'quantum-task' must start with '/'");
    rq.path = "/";
    rq.amz_date = "2015-08-30T12:36:00Z";
    HQ_CHECK_FAILS(hq_sigv4_sign(&cr, &rq, &sg), HQ_ERR_INVALID_ARG,
                   "amz_date '2015-08-30T12:36:00Z' is not of the form YYYYMMDDTHHMMSSZ");
    rq.amz_date = NULL;
    rq.region = NULL;
    HQ_CHECK_FAILS(hq_sigv4_sign(&cr, &rq, &sg), HQ_ERR_INVALID_ARG,
                   "needs method, host, path, region and service");
    rq.region = "r";
    hq_http_header bad[] = {{"X-A", "v\r\nInjected: 1"}};
    rq.headers = bad;
    rq.n_headers = 1;
    HQ_CHECK_FAILS(hq_sigv4_sign(&cr, &rq, &sg), HQ_ERR_INVALID_ARG, "header 0 ('X-A')");
    HQ_CHECK_FAILS(hq_sigv4_sign(&cr, &rq, NULL), HQ_ERR_INVALID_ARG, "out is NULL");
    hq_sigv4_signed_free(NULL);
}

HQ_TEST(sigv4_oom) {
    hq_sigv4_creds cr = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "tok"};
    hq_http_header hd[] = {{"My-Header1", "a  b"}};
    hq_sigv4_request rq = {.method = "POST",
                           .host = "h",
                           .path = "/a/./b/../c",
                           .query = "b=2&a=1",
                           .headers = hd,
                           .n_headers = 1,
                           .body = "x",
                           .body_len = 1,
                           .region = "r",
                           .service = "s",
                           .amz_date = "20150830T123600Z",
                           .content_sha256_header = true};
    hq_sigv4_signed ref;
    HQ_REQUIRE_OK(hq_sigv4_sign(&cr, &rq, &ref));
    for (long n = 1; n < 200; n++) {
        hq_sigv4_signed sg;
        hq_alloc_fail_after(n);
        hq_status st = hq_sigv4_sign(&cr, &rq, &sg);
        bool fired = hq_alloc_injected();
        hq_alloc_fail_after(0);
        if (!fired) {
            HQ_CHECK_OK(st);
            HQ_CHECK_STR(sg.signature, ref.signature);
            hq_sigv4_signed_free(&sg);
            break;
        }
        HQ_CHECKF(st == HQ_ERR_NOMEM, "allocation %ld: %s", n, hq_status_name(st));
        HQ_CHECK(sg.authorization == NULL);
    }
    hq_sigv4_signed_free(&ref);
}
