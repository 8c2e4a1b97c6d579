// The productpage service (Express): the book page, put together from details (through mesh.fetch) and reviews (through mesh.axios).
import type { Mesh } from '@weft/mesh';
import type { AxiosInstance } from 'axios';
import express, { type Express } from 'express';
import { type BookDetails, PRODUCTS, type Product, type ReviewsResponse } from '../data.js';

/** The page as JSON. A part whose service failed carries Bookinfo's apology instead, and the page still answers 200. */
export interface ProductPage {
  product: Product;
  details: BookDetails | { error: string };
  reviews: ReviewsResponse | { error: string };
}

const DETAILS_UNAVAILABLE = 'Sorry, product details are currently unavailable for this book.';
const REVIEWS_UNAVAILABLE = 'Sorry, product reviews are currently unavailable for this book.';

async function getDetails(mesh: Mesh, id: number): Promise<ProductPage['details']> {
  try {
    const response = await mesh.fetch(`http://details/details/${id}`);
    if (!response.ok) {
      await response.body?.cancel();
      return { error: DETAILS_UNAVAILABLE };
    }
    return (await response.json()) as BookDetails;
  } catch {
    return { error: DETAILS_UNAVAILABLE };
  }
}

async function getReviews(reviews: AxiosInstance, id: number): Promise<ProductPage['reviews']> {
  try {
    const { data } = await reviews.get<ReviewsResponse>(`/reviews/${id}`);
    return data;
  } catch {
    return { error: REVIEWS_UNAVAILABLE };
  }
}

export function productpageApp(mesh: Mesh): Express {
  const reviews = mesh.axios('reviews');
  const app = express();
  app.use(mesh.express());
  app.get('/health', (_req, res) => {
    res.json({ status: 'Productpage is healthy' });
  });
  app.get('/api/v1/products', (_req, res) => {
    res.json(PRODUCTS);
  });
  app.get('/productpage', async (_req, res) => {
    const product = PRODUCTS[0] as Product;
    const [details, productReviews] = await Promise.all([
      getDetails(mesh, product.id),
      getReviews(reviews, product.id),
    ]);
    const page: ProductPage = { product, details, reviews: productReviews };
    res.json(page);
  });
  return app;
}
