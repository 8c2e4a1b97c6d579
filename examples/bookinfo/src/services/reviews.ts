// The reviews service (Express) in its three versions: v1 shows no stars, v2 black stars, v3 red stars; v2 and v3 call ratings.
import type { Mesh } from '@weft/mesh';
import express, { type Express } from 'express';
import { productId, type Rating, type RatingsResponse, REVIEWS, type ReviewsResponse } from '../data.js';

export type ReviewsVersion = 'v1' | 'v2' | 'v3';

/** Star colour and time allowed for the call to ratings, as Bookinfo's reviews sets them per version. */
const STARS = {
  v2: { color: 'black', ratingsTimeoutMs: 10_000 },
  v3: { color: 'red', ratingsTimeoutMs: 2_500 },
} as const;

const RATINGS_UNAVAILABLE = 'Ratings service is currently unavailable';

export function reviewsApp(mesh: Mesh, version: ReviewsVersion): Express {
  const stars = version === 'v1' ? undefined : STARS[version];
  // The axios timeout becomes the call's deadline in the mesh (WEFT_ERR_TIMEOUT when it passes).
  const ratings = stars === undefined ? undefined : mesh.axios('ratings', { timeout: stars.ratingsTimeoutMs });

  const app = express();
  app.use(mesh.express());
  app.get('/health', (_req, res) => {
    res.json({ status: 'Reviews is healthy' });
  });
  app.get('/reviews/:id', async (req, res) => {
    const id = productId(req.params.id);
    if (id === undefined) {
      res.status(400).json({ error: 'please provide numeric product ID' });
      return;
    }
    let rating: (reviewer: string) => Rating | undefined = () => undefined;
    if (ratings !== undefined && stars !== undefined) {
      try {
        const { data } = await ratings.get<RatingsResponse>(`/ratings/${id}`);
        rating = (reviewer) => ({ stars: data.ratings[reviewer] ?? 0, color: stars.color });
      } catch {
        // As in Bookinfo: the reviews still show, each with a note instead of stars.
        rating = () => ({ error: RATINGS_UNAVAILABLE });
      }
    }
    const answer: ReviewsResponse = {
      id: String(id),
      podname: `reviews-${version}`,
      reviews: REVIEWS.map((review) => {
        const r = rating(review.reviewer);
        return r === undefined ? { ...review } : { ...review, rating: r };
      }),
    };
    res.json(answer);
  });
  return app;
}
