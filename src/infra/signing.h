/*
 * Standard Webhooks signatures (DESIGN §5, https://www.standardwebhooks.com):
 *
 *   webhook-signature: v1,<base64(HMAC-SHA256(key, id "." timestamp "." body))>
 *
 * The key comes from the configured secret: "whsec_<base64>" means the
 * decoded base64 bytes (padding optional).  A secret without the "whsec_"
 * prefix is used as is, its bytes being the key -- note that the reference
 * libraries base64-decode such a secret instead; give the prefix to stay
 * compatible with them.
 *
 * During a key rotation the header carries two signatures, separated by a
 * space, the current one first.
 */
#ifndef CHARGEGATE_SIGNING_H
#define CHARGEGATE_SIGNING_H

#include <stdbool.h>
#include <stddef.h>

struct SigningKey;

#define SIGNING_SECRET_PREFIX "whsec_"
/* "v1," + 44 base64 characters + NUL */
#define SIGNING_SIGNATURE_SIZE 48
/* two signatures, a space between them, NUL */
#define SIGNING_HEADER_SIZE (2 * SIGNING_SIGNATURE_SIZE)

/*
 * The key of secret; NULL with a reason in err when the secret is empty
 * or its whsec_ part is not valid base64 (the secret itself is never
 * copied into err).
 */
struct SigningKey *signing_key_new(const char *secret, char *err, size_t errsize);
void signing_key_free(struct SigningKey *key);

/*
 * "v1,<base64>" for one key into out.  false (logged with the cause) only
 * when libcrypto fails.
 */
bool signing_sign(const struct SigningKey *key, const char *id, const char *timestamp, const char *body,
		  size_t body_len, char out[SIGNING_SIGNATURE_SIZE]);

/*
 * The webhook-signature header value: the signature with current, then,
 * when previous is not NULL, a space and the signature with previous.
 */
bool signing_header(const struct SigningKey *current, const struct SigningKey *previous, const char *id,
		    const char *timestamp, const char *body, size_t body_len, char out[SIGNING_HEADER_SIZE]);

/*
 * Receiver side: true when one of the space-separated "v1,…" signatures
 * in header matches the signature of one of keys[0..nkeys) over id,
 * timestamp and body.  Signatures of other versions are ignored.  The
 * comparison takes the same time wherever the signatures differ.
 */
bool signing_verify(const char *header, const struct SigningKey *const *keys, int nkeys, const char *id,
		    const char *timestamp, const char *body, size_t body_len);

#endif
